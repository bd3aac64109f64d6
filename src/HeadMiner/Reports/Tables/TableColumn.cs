namespace HeadMiner.Reports.Tables;

/// <summary>
/// One column of a <see cref="ResultTable"/>: a name, a kind and one value per row (null for a missing value, and for
/// NaN and ±∞, which every table format here writes as missing, as the JSON outputs do).
/// </summary>
public sealed record TableColumn(string Name, TableColumnKind Kind, IReadOnlyList<object?> Values);
