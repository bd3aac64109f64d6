namespace HeadMiner.Reports.Tables;

/// <summary>The value type of a <see cref="ResultTable"/> column, as stored in Parquet (every column is nullable).</summary>
public enum TableColumnKind
{
    /// <summary>32-bit integers (layer, head, position, rank).</summary>
    Int32,

    /// <summary>64-bit integers.</summary>
    Int64,

    /// <summary>Float32 values, kept in 32 bits so a value reads back exactly as it was computed.</summary>
    Float32,

    /// <summary>Float64 values.</summary>
    Float64,

    /// <summary>True/false flags.</summary>
    Boolean,

    /// <summary>UTF-8 text.</summary>
    String,
}
