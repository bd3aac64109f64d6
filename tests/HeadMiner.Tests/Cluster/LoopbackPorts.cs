using System.Net;
using System.Net.Sockets;

namespace HeadMiner.Tests.Cluster;

/// <summary>Free loopback ports for a test's silos, gateways and servers (held together while chosen, so they differ).</summary>
internal static class LoopbackPorts
{
    public static int[] Free(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        int[] ports = [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        foreach (var l in listeners) l.Stop();
        return ports;
    }
}
