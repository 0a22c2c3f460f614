// Entry point: the bundle the package bin builds from this file (pipeline/bin/bundle.js), or `tsx pipeline/cli/index.ts <command>` from the sources.
import { runCli } from './main.ts';

// A reader that goes away (`dbops --help | head`) is not dbops' failure, and must not stop a deploy
// half-way: later output is dropped, the command runs to its end and keeps its exit code.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
  });
}

process.exitCode = await runCli(process.argv.slice(2));
