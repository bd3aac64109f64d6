using Microsoft.Playwright;

namespace HeadMiner.Explorer.Tests;

/// <summary>Pages for the browser tests (one viewport size, a 20 s default timeout) and their screenshots, kept under <see cref="RepoPaths.Artifacts"/>.</summary>
public static class BrowserPages
{
    public static async Task<IPage> NewAsync(ExplorerFixture fx)
    {
        var browser = await fx.BrowserAsync();
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 1600 } });
        context.SetDefaultTimeout(20_000);
        return await context.NewPageAsync();
    }

    /// <summary>Opens the explorer at <paramref name="url"/> and waits until it has loaded its first model, its atlas and run the first example.</summary>
    public static async Task<IPage> OpenExplorerAsync(ExplorerFixture fx, string url)
    {
        var page = await NewAsync(fx);
        await page.GotoAsync(url + "/");
        await page.WaitForSelectorAsync("body[data-ready=true]");
        return page;
    }

    /// <summary>Types <paramref name="prompt"/>, presses Run and waits until every view of that run is drawn.</summary>
    public static async Task RunPromptAsync(IPage page, string prompt)
    {
        string runs = await page.GetAttributeAsync("body", "data-runs") ?? "0";
        await page.FillAsync("#prompt", prompt);
        await page.ClickAsync("#run");
        await page.WaitForFunctionAsync($"() => document.body.getAttribute('data-runs') !== '{runs}'");
    }

    public static Task ShotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoPaths.Artifacts, name + ".png"), FullPage = true });
}
