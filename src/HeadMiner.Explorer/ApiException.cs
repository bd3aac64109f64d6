namespace HeadMiner.Explorer;

/// <summary>A request the explorer refuses: the HTTP status and one line saying what is wrong and where.</summary>
public sealed class ApiException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ApiException BadRequest(string message) => new(400, message);

    public static ApiException NotFound(string message) => new(404, message);
}
