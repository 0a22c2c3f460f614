// Entry point: `tsx pipeline/cli.ts <command>`; the package bin (pipeline/bin/dbops.js) loads it too.
import { runCli } from './main.ts';

process.exitCode = await runCli(process.argv.slice(2));
