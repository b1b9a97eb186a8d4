/**
 * The `cortado` command: bench's verbs for one site. Bad input exits non-zero with one line
 * saying what is wrong; nothing is half-written.
 */
import { Command, CommanderError } from 'commander';
import { commands } from './commands.ts';

const program = new Command();
program
  .name('cortado')
  .description('A Frappe-compatible REST and authentication server')
  .option('--site <path>', 'site folder', './sites/default')
  // Commander's errors (and its "Did you mean …?" suggestion) become one line with the hint;
  // showHelpAfterError would print the hint as a second line.
  .configureOutput({
    outputError: (text, write) =>
      write(`${text.split('\n').map((part) => part.trim()).filter(Boolean).join(' ')} (run cortado --help for usage)\n`),
  })
  .exitOverride();

commands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    // One line saying what is wrong; a stack trace helps nobody typing a command.
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message.split('\n')[0] || error?.constructor?.name}\n`);
    process.exitCode = 1;
  }
}
