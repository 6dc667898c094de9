#!/usr/bin/env node
/**
 * The `usagedb` executable: runs `runCli` on the process's arguments, environment and streams,
 * then exits with its code (after stdout drains; open S3 sockets would otherwise keep it alive).
 */
import '../runtime/native-deflate.ts';
import { runCli } from './cli.ts';

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
