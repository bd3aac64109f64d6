namespace HeadMiner.Analysis.Truth;

/// <summary>
/// The residual-stream subspaces of a planted model, in order: token one-hot [vocab], a constant 1, position one-hot
/// [positions] (GPT-2), previous token [vocab], output [vocab] (read by W_U), junk [4], spare dims only noise
/// reaches, and (GPT-2) the balance dim that stays 0.
/// </summary>
public sealed class PlantedLayout
{
    public const int JunkDims = 4;

    public PlantedLayout(int vocab, int positions, int spare, bool balance)
    {
        Vocab = vocab;
        Positions = positions;
        Tok = 0;
        Const = vocab;
        Pos = Const + 1;
        Prev = Pos + positions;
        Out = Prev + vocab;
        Junk = Out + vocab;
        Balance = Junk + JunkDims + spare;
        DModel = Balance + (balance ? 1 : 0);
    }

    public int Vocab { get; }
    public int Positions { get; }
    public int Tok { get; }
    public int Const { get; }
    public int Pos { get; }
    public int Prev { get; }
    public int Out { get; }
    public int Junk { get; }

    /// <summary>GPT-2 only (LayerNorm): the always-zero dim that cancels the mean subtraction.</summary>
    public int Balance { get; }
    public int DModel { get; }
}
