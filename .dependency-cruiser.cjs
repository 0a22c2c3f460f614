/**
 * The layout's rules (docs/layout.md), checked by test/unit/layers.test.ts:
 * commands → domains → infra → core, no cycles (type-only and dynamic imports count), a domain uses another
 * only through its index.ts, report/ renders the domains' models and is never imported by them, and only
 * infra/github talks to GitHub.
 */
const DOMAINS = '(change|protection|operations)/[^/]+|evidence|seed|report';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'Dependencies point one way.', from: { path: '^pipeline/' }, to: { circular: true } },
    {
      name: 'core-imports-only-core',
      severity: 'error',
      comment: 'core/ is the bottom layer: results, errors, logging, formatting, files, time.',
      from: { path: '^pipeline/core/' },
      to: { path: '^pipeline/', pathNot: '^pipeline/core/' },
    },
    {
      name: 'policy-imports-only-core',
      severity: 'error',
      comment: 'policy/ holds the zod schemas of policies/*.yaml.',
      from: { path: '^pipeline/policy/' },
      to: { path: '^pipeline/', pathNot: '^pipeline/(core|policy)/' },
    },
    {
      name: 'infra-knows-no-domain',
      severity: 'error',
      comment: 'infra/ (database, clusters, storage, crypto, git, GitHub) knows no business rule.',
      from: { path: '^pipeline/infra/' },
      to: { path: '^pipeline/', pathNot: '^pipeline/(core|policy|infra)/' },
    },
    {
      name: 'domains-below-commands',
      severity: 'error',
      comment: 'Domains decide; they never reach up into the commands or the CLI.',
      from: { path: `^pipeline/(${DOMAINS})/` },
      to: { path: '^pipeline/(commands|cli)/' },
    },
    {
      name: 'report-renders-domains',
      severity: 'error',
      comment: "report/ imports the domains' models, never the reverse.",
      from: { path: '^pipeline/((change|protection|operations)/[^/]+|evidence|seed)/' },
      to: { path: '^pipeline/report/' },
    },
    {
      name: 'domain-through-index',
      severity: 'error',
      comment: 'A domain uses another only through its index.ts.',
      from: { path: `^pipeline/(${DOMAINS})/` },
      to: { path: `^pipeline/(${DOMAINS})/`, pathNot: [`^pipeline/$1/`, `^pipeline/(${DOMAINS})/index\\.ts$`] },
    },
    {
      name: 'commands-never-import-commands',
      severity: 'error',
      comment: 'A command calls domain functions, never another command (shared flags live in commands/flags.ts).',
      from: { path: '^pipeline/commands/(.+)/[^/]+\\.ts$' },
      to: { path: '^pipeline/commands/', pathNot: ['^pipeline/commands/$1/', '^pipeline/commands/flags\\.ts$'] },
    },
    {
      name: 'commands-use-domains-through-index',
      severity: 'error',
      comment: 'Commands use a domain through its index.ts.',
      from: { path: '^pipeline/commands/' },
      to: { path: `^pipeline/(${DOMAINS})/`, pathNot: `^pipeline/(${DOMAINS})/index\\.ts$` },
    },
    {
      name: 'github-only-in-infra-github',
      severity: 'error',
      comment: 'infra/github is the only code that calls GitHub.',
      from: { path: '^pipeline/', pathNot: '^pipeline/infra/github/' },
      to: { path: 'node_modules/(@actions|@octokit)/' },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^pipeline/generated/' },
  },
};
