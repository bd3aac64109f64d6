namespace HeadMiner;

/// <summary>
/// A failure the user can act on: bad input, a missing file, an unsupported model. The message alone must say what
/// was wrong and where (file, tensor, hook name, position); front ends print it without a stack trace.
/// </summary>
public class HeadMinerException : Exception
{
    public HeadMinerException(string message) : base(message) { }
    public HeadMinerException(string message, Exception inner) : base(message, inner) { }
}
