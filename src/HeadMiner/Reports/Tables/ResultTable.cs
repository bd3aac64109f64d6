namespace HeadMiner.Reports.Tables;

/// <summary>
/// A result table (patching cells, per-head scores, edges…) as typed columns of equal length: what
/// <see cref="CsvTable"/> and <see cref="ParquetTable"/> write. Built from the rows a command already produces
/// (<see cref="FromRows"/>), each column's kind inferred from its values, so a table is written the same way in
/// every format.
/// </summary>
public sealed class ResultTable
{
    public ResultTable(IReadOnlyList<TableColumn> columns)
    {
        if (columns.Count == 0) throw new ArgumentException("a table needs at least one column", nameof(columns));
        int rows = columns[0].Values.Count;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in columns)
        {
            if (!names.Add(c.Name)) throw new ArgumentException($"column \"{c.Name}\" appears twice", nameof(columns));
            if (c.Values.Count != rows)
                throw new ArgumentException($"column \"{c.Name}\" has {c.Values.Count} values, column \"{columns[0].Name}\" has {rows}", nameof(columns));
        }
        Columns = columns;
        RowCount = rows;
    }

    public IReadOnlyList<TableColumn> Columns { get; }

    public int RowCount { get; }

    /// <summary>
    /// A table from a header and rows of cells. A column's kind is the narrowest that holds all its non-null cells:
    /// int → <see cref="TableColumnKind.Int32"/>; ints and longs → Int64; floats (and ints) → Float32; any double →
    /// Float64; bools → Boolean; anything else (or a mix) → String. A column of nulls only is Float64. NaN and ±∞
    /// become null.
    /// </summary>
    public static ResultTable FromRows(IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var cells = header.Select(_ => new List<object?>()).ToArray();
        int row = 0;
        foreach (var r in rows)
        {
            if (r.Count != header.Count)
                throw new ArgumentException($"row {row} has {r.Count} cells for {header.Count} columns ({string.Join(", ", header)})", nameof(rows));
            for (int c = 0; c < header.Count; c++) cells[c].Add(r[c]);
            row++;
        }
        var columns = new TableColumn[header.Count];
        for (int c = 0; c < header.Count; c++)
        {
            var kind = KindOf(cells[c]);
            columns[c] = new TableColumn(header[c], kind, cells[c].Select(v => Convert(v, kind)).ToArray());
        }
        return new ResultTable(columns);
    }

    private static TableColumnKind KindOf(IEnumerable<object?> values)
    {
        bool any = false, integer = true, wide = false, single = true, number = true, flag = true;
        foreach (var v in values)
        {
            if (v is null) continue;
            any = true;
            bool isInt = v is int or short or byte or sbyte or ushort;
            bool isLong = v is long or uint;
            integer &= isInt || isLong;
            wide |= isLong;
            single &= isInt || v is float or short or byte or sbyte or ushort;
            number &= isInt || isLong || v is float or double;
            flag &= v is bool;
        }
        if (!any) return TableColumnKind.Float64;
        if (flag) return TableColumnKind.Boolean;
        if (!number) return TableColumnKind.String;
        if (integer) return wide ? TableColumnKind.Int64 : TableColumnKind.Int32;
        return single ? TableColumnKind.Float32 : TableColumnKind.Float64;
    }

    private static object? Convert(object? value, TableColumnKind kind) => value switch
    {
        null => null,
        float f when !float.IsFinite(f) => null,
        double d when !double.IsFinite(d) => null,
        _ => kind switch
        {
            TableColumnKind.Int32 => System.Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture),
            TableColumnKind.Int64 => System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
            TableColumnKind.Float32 => System.Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture),
            TableColumnKind.Float64 => System.Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture),
            TableColumnKind.Boolean => (bool)value,
            _ => value is IFormattable n ? n.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : value.ToString(),
        },
    };
}
