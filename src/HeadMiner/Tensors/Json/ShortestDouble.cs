using System.Globalization;

namespace HeadMiner.Tensors.Json;

/// <summary>
/// A float as the double that prints the same: (double)0.3f is 0.30000001192092896, which is what JSON and CSV then
/// show for a float threshold stored in a double field; this gives 0.3. Non-finite values pass through unchanged.
/// </summary>
public static class ShortestDouble
{
    public static double Of(float value) =>
        float.IsFinite(value) ? double.Parse(value.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : value;
}
