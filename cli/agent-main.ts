/**
 * Entry point of the stand-alone agent bundle for the Raspberry Pi (`npm run build:agent`):
 * only the commands that run in a car, so the bundle carries none of the cloud side.
 */
import agentCommand from './commands/agent.ts';
import { reportError, runCommand, type MainIo } from './run-command.ts';

const io: MainIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
};

const commands = { agent: agentCommand } as const;

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name as keyof typeof commands];
  if (!command) {
    io.out(`Usage: fleetpulse-agent <command> [options]\n\nCommands:\n  agent   ${agentCommand.summary}\n`);
    return name === '--help' || name === '-h' ? 0 : 2;
  }
  try {
    return await runCommand(command, rest, io);
  } catch (error) {
    return reportError(error, io);
  }
}

const code = await run(process.argv.slice(2));
process.exitCode = code;
setTimeout(() => process.exit(code), 3000).unref();
