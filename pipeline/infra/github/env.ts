/**
 * Whether this command runs as a GitHub Actions step. The command's own environment when the context
 * carries one (tests run commands in-process with a clean environment, inside a CI job or not), else the
 * process environment, which is also what @actions/core and @actions/github read.
 */
export const inGitHubActions = (env: NodeJS.ProcessEnv = process.env): boolean => env['GITHUB_ACTIONS'] === 'true';
