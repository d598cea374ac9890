using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace BackupTools.Engine.MariaDb;

public sealed partial class BinlogReceiver
{
    /// <summary>The client side of the protocol up to the dump: packets, the login and plain statements.</summary>
    private sealed class Session(BinlogReceiver owner)
    {
        private byte _sequence;

        public void Login(string user, string? password, string? tlsHost)
        {
            try { LoginUnchecked(user, password, tlsHost); }
            catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException)
            {
                throw new BinlogReceiverException($"the server's greeting or login answer is malformed ({Printable(e.Message)}): not a MariaDB server, or a damaged connection");
            }
        }

        private void LoginUnchecked(string user, string? password, string? tlsHost)
        {
            var greeting = Receive();
            if (greeting[0] == 0xFF) throw new BinlogReceiverException(ErrorText(greeting));
            if (greeting[0] != 10) throw new BinlogReceiverException($"the server speaks protocol {greeting[0]}, not 10");
            var at = greeting.AsSpan(1).IndexOf((byte)0) + 2; // past the version string
            at += 4; // connection id
            var scramble = new List<byte>(greeting.AsSpan(at, 8).ToArray());
            at += 9; // scramble part 1 and a filler
            var capabilities = (uint)BinaryPrimitives.ReadUInt16LittleEndian(greeting.AsSpan(at));
            at += 2 + 1 + 2; // lower capabilities, charset, status
            capabilities |= (uint)BinaryPrimitives.ReadUInt16LittleEndian(greeting.AsSpan(at)) << 16;
            at += 2;
            var dataLength = greeting[at];
            at += 1 + 10; // data length, reserved and MariaDB's extended capabilities
            const uint Protocol41 = 0x200, SecureConnection = 0x8000, PluginAuth = 0x80000;
            if ((capabilities & Protocol41) == 0 || (capabilities & SecureConnection) == 0)
                throw new BinlogReceiverException("the server does not speak the 4.1 protocol with secure authentication");
            var part2 = Math.Max(13, dataLength - 8);
            scramble.AddRange(greeting.AsSpan(at, part2 - 1).ToArray()); // its last byte is a NUL
            at += part2;
            var plugin = (capabilities & PluginAuth) != 0 && at < greeting.Length ? Encoding.ASCII.GetString(greeting.AsSpan(at).TrimEnd((byte)0)) : "mysql_native_password";
            if (plugin == UnspokenPluginHook) throw new UnsupportedAuthenticationException(Printable(plugin));

            var response = new List<byte>();
            const uint LongPassword = 1, LongFlag = 4, Ssl = 0x800, Transactions = 0x2000, MultiResults = 0x20000, LenencAuth = 0x200000;
            var flags = LongPassword | LongFlag | Protocol41 | Transactions | SecureConnection | MultiResults | PluginAuth | LenencAuth;
            var tls = tlsHost is not null && (capabilities & Ssl) != 0;
            if (tls) flags |= Ssl;
            response.AddRange(BitConverter.GetBytes(flags));
            response.AddRange(BitConverter.GetBytes(1 << 30)); // the longest packet it accepts
            response.Add(45); // utf8mb4_general_ci
            response.AddRange(new byte[23]);
            if (tls)
            {
                // The SSL request (the response's first 32 bytes), then TLS, then the whole response inside it.
                Send(response.ToArray(), _sequence);
                owner._transport.StartTls(tlsHost!);
            }
            response.AddRange(Encoding.UTF8.GetBytes(user));
            response.Add(0);
            var auth = plugin == "mysql_native_password" ? NativePassword(password, scramble.ToArray()) : [];
            response.Add((byte)auth.Length);
            response.AddRange(auth);
            response.AddRange(Encoding.ASCII.GetBytes(plugin));
            response.Add(0);
            Send(response.ToArray(), _sequence);
            for (var switches = 0; ; switches++)
            {
                var reply = Receive();
                switch (reply[0])
                {
                    case 0x00: return;
                    case 0xFF: throw new BinlogReceiverException(ErrorText(reply));
                    case 0xFE:
                    {
                        if (switches >= 2) throw new BinlogReceiverException("the server asked for another authentication plugin again and again");
                        // The server wants another plugin: mysql_native_password (a fresh scramble) or a server-side
                        // one that reads nothing from the client (unix_socket). Others are not spoken here.
                        var end = Array.IndexOf(reply, (byte)0, 1);
                        var name = Printable(Encoding.ASCII.GetString(reply, 1, (end < 0 ? reply.Length : end) - 1));
                        var data = end < 0 ? [] : reply.AsSpan(end + 1).TrimEnd((byte)0).ToArray();
                        byte[] answer = name == UnspokenPluginHook ? throw new UnsupportedAuthenticationException(name) : name switch
                        {
                            "mysql_native_password" => NativePassword(password, data),
                            "unix_socket" => [],
                            _ => throw new UnsupportedAuthenticationException(name),
                        };
                        Send(answer, _sequence);
                        break;
                    }
                    default: throw new UnsupportedAuthenticationException(Printable(plugin));
                }
            }
        }

        public void Query(string sql)
        {
            var packet = new byte[1 + Encoding.UTF8.GetByteCount(sql)];
            packet[0] = 0x03; // COM_QUERY
            Encoding.UTF8.GetBytes(sql, packet.AsSpan(1));
            Send(packet, sequence: 0);
            var reply = Receive();
            if (reply[0] == 0xFF) throw new BinlogReceiverException($"{sql}: {ErrorText(reply)}");
            if (reply[0] != 0x00) throw new BinlogReceiverException($"{sql}: the server answered with a result, not OK");
        }

        public void Send(byte[] payload, byte sequence)
        {
            var packet = new byte[4 + payload.Length];
            packet[0] = (byte)payload.Length;
            packet[1] = (byte)(payload.Length >> 8);
            packet[2] = (byte)(payload.Length >> 16);
            packet[3] = sequence;
            payload.CopyTo(packet, 4);
            owner._transport.Write(packet);
            _sequence = (byte)(sequence + 1);
        }

        private byte[] Receive()
        {
            var header = new byte[4];
            ReceiveExactly(header);
            var length = header[0] | header[1] << 8 | header[2] << 16;
            _sequence = (byte)(header[3] + 1);
            var payload = new byte[length];
            ReceiveExactly(payload);
            if (length == 0) throw new BinlogReceiverException("the server sent an empty packet while logging in");
            return payload;
        }

        private void ReceiveExactly(byte[] into)
        {
            var got = 0;
            while (got < into.Length)
            {
                var n = owner._transport.Read(into, got, into.Length - got);
                if (n == 0) throw new BinlogReceiverException("the server closed the connection while logging in");
                got += n;
            }
        }

        /// <summary>mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); nothing for no password.</summary>
        private static byte[] NativePassword(string? password, byte[] scramble)
        {
            if (string.IsNullOrEmpty(password)) return [];
            var bytes = Encoding.UTF8.GetBytes(password);
            var stage1 = SHA1.HashData(bytes);
            var stage2 = SHA1.HashData(stage1);
            var salted = SHA1.HashData([.. scramble.AsSpan(0, Math.Min(20, scramble.Length)), .. stage2]);
            for (var i = 0; i < stage1.Length; i++) salted[i] ^= stage1[i];
            CryptographicOperations.ZeroMemory(bytes);
            CryptographicOperations.ZeroMemory(stage1);
            CryptographicOperations.ZeroMemory(stage2);
            return salted;
        }

        public static string ErrorText(ReadOnlySpan<byte> error)
        {
            var code = error.Length >= 3 ? BinaryPrimitives.ReadUInt16LittleEndian(error[1..]) : 0;
            var text = error.Length > 3 ? error[3..] : [];
            if (text.Length > 6 && text[0] == (byte)'#') text = text[6..]; // the SQL state
            return $"the server refused: {Printable(Encoding.UTF8.GetString(text))} (error {code})";
        }
    }
}
