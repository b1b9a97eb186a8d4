import { InvalidArgumentError, type Command } from 'commander';
import { addUser, setAdminPassword, setPassword } from '../app/user-admin.ts';
import { withSite } from './with-site.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

function userType(value: string): 'System User' | 'Website User' {
  if (value !== 'System User' && value !== 'Website User') throw new InvalidArgumentError('must be "System User" or "Website User"');
  return value;
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function userCommands(program: Command): void {
  program
    .command('add-user <email>')
    .description('add a user')
    .option('--first-name <name>')
    .option('--last-name <name>')
    .option('--password <password>')
    .option('--user-type <type>', '"System User" or "Website User"', userType, 'System User' as const)
    .option('--add-role <role>', 'give a role (repeatable)', collect, [] as string[])
    .action((email: string, options: { firstName?: string; lastName?: string; password?: string; userType: 'System User' | 'Website User'; addRole: string[] }) =>
      withSite(program, async (site) => {
        const name = await addUser(site, { email, ...options, roles: options.addRole });
        say(`added user ${name}`);
      }),
    );

  program
    .command('set-password <user> <password>')
    .description("set a user's password (ends their sessions)")
    .action((user: string, password: string) =>
      withSite(program, async (site) => {
        await setPassword(site, user, password);
        say(`password set for ${user}`);
      }),
    );

  program
    .command('set-admin-password <password>')
    .description('set the Administrator password')
    .action((password: string) =>
      withSite(program, async (site) => {
        await setAdminPassword(site, password);
        say('password set for Administrator');
      }),
    );
}
