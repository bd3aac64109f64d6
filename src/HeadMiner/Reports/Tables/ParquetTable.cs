using HeadMiner.Tensors;
using Parquet;
using Parquet.Schema;

namespace HeadMiner.Reports.Tables;

/// <summary>
/// Writes a <see cref="ResultTable"/> as one Parquet file (Parquet.Net): one row group, every column optional (null
/// for missing, NaN and ±∞ values), Snappy-compressed, with string key/value metadata in the file footer (what
/// pyarrow shows as <c>schema.metadata</c>). Written atomically, so a reader never sees half a file.
/// </summary>
public static class ParquetTable
{
    public static void Write(string path, ResultTable table, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var fields = table.Columns.Select(c => Field(c)).ToArray();
        var schema = new ParquetSchema(fields);
        AtomicFile.Write(path, stream => WriteAsync(stream, schema, fields, table, metadata).GetAwaiter().GetResult());
    }

    private static async Task WriteAsync(Stream stream, ParquetSchema schema, DataField[] fields, ResultTable table, IReadOnlyDictionary<string, string>? metadata)
    {
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, new ParquetOptions { CompressionMethod = CompressionMethod.Snappy });
        if (metadata is not null) writer.CustomMetadata = metadata.ToDictionary(kv => kv.Key, kv => kv.Value);
        using var rowGroup = writer.CreateRowGroup();
        for (int i = 0; i < fields.Length; i++)
        {
            var column = table.Columns[i];
            switch (column.Kind)
            {
                case TableColumnKind.Int32: await rowGroup.WriteAsync<int>(fields[i], Values<int>(column)); break;
                case TableColumnKind.Int64: await rowGroup.WriteAsync<long>(fields[i], Values<long>(column)); break;
                case TableColumnKind.Float32: await rowGroup.WriteAsync<float>(fields[i], Values<float>(column)); break;
                case TableColumnKind.Float64: await rowGroup.WriteAsync<double>(fields[i], Values<double>(column)); break;
                case TableColumnKind.Boolean: await rowGroup.WriteAsync<bool>(fields[i], Values<bool>(column)); break;
                default: await rowGroup.WriteAsync(fields[i], column.Values.Select(v => (string?)v).ToArray()!); break;
            }
        }
    }

    private static DataField Field(TableColumn c) => c.Kind switch
    {
        TableColumnKind.Int32 => new DataField<int?>(c.Name),
        TableColumnKind.Int64 => new DataField<long?>(c.Name),
        TableColumnKind.Float32 => new DataField<float?>(c.Name),
        TableColumnKind.Float64 => new DataField<double?>(c.Name),
        TableColumnKind.Boolean => new DataField<bool?>(c.Name),
        _ => new DataField<string>(c.Name, true),
    };

    private static ReadOnlyMemory<T?> Values<T>(TableColumn column) where T : struct =>
        column.Values.Select(v => v is null ? (T?)null : (T)v).ToArray();
}
