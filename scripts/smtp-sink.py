#!/usr/bin/env python3
"""A minimal SMTP sink for benchmarks: accepts every message and forgets it, counting messages and
connections. No TLS, no auth, no output per message. Usage: smtp-sink.py PORT STATS_FILE (the counts are
rewritten there every second as "messages connections cpu_seconds", the last being the sink's own CPU
time, so a run shows whether the sink kept up)."""
import asyncio
import sys
import time

messages = 0
connections = 0


async def session(reader, writer):
    global messages, connections
    connections += 1
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                # The whole message up to its end mark in one read, not line by line.
                await reader.readuntil(b"\r\n.\r\n")
                messages += 1
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    writer.close()


async def report(path):
    while True:
        with open(path, "w") as f:
            f.write(f"{messages} {connections} {time.process_time():.1f}\n")
        await asyncio.sleep(1)


async def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    server = await asyncio.start_server(session, "127.0.0.1", port, limit=16 * 1024 * 1024)
    asyncio.create_task(report(path))
    async with server:
        await server.serve_forever()


asyncio.run(main())
