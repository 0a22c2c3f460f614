import type { StepModule } from '../../../cli/contract.ts';
import { utcMinute } from '../../../core/time.ts';
import { pitrExpire, type PitrExpireData } from '../../../protection/pitr/index.ts';
import type { PitrExpireInputs } from './spec.ts';
import { ownSessionDatabase } from '../../flags.ts';

export const expire: StepModule<PitrExpireInputs, PitrExpireData> = {
  async run(input, ctx) {
    const { backups } = await ctx.policies('backups');
    return {
      verdict: 'pass',
      findings: [],
      data: await pitrExpire(
        {
          target: input.dryRun ? await ctx.database() : await ownSessionDatabase(ctx, 'dbops pitr expire'),
          backups: backups.value,
          repo: input.repo,
          dryRun: input.dryRun,
        },
        ctx,
      ),
    };
  },
  render({ data: d }) {
    const lines: string[] = [];
    for (const r of d.repos) {
      const gone = r.fulls.filter((f) => !f.keep);
      lines.push(
        `Repository ${r.repo} (stanza ${d.stanza}): ${r.fulls.length} full backup(s), ${gone.length} ${d.dryRun ? 'to expire' : 'expired'}${d.dryRun ? ' (dry run)' : ''}; days, weeks and months of ${d.zone}, newest first:`,
      );
      for (const f of r.fulls) {
        const action = f.keep ? 'keep  ' : d.dryRun ? 'expire' : r.expired.includes(f.label) ? 'EXPIRED' : 'still listed';
        const deps = f.dependents.length ? ` (+${f.dependents.length} diff/incr)` : '';
        lines.push(`  ${action}  ${f.label.padEnd(26)} ${utcMinute(f.stoppedAt)}  ${f.status.padEnd(10)}  ${f.reasons.join('; ')}${deps}`);
      }
      lines.push(
        r.walFrom
          ? `  WAL kept from ${r.walFrom.label} (ended ${utcMinute(r.walFrom.stoppedAt)}): any moment since then can be restored (window ${d.walWindow}).`
          : '  No full backup: nothing to keep WAL for.',
        '',
      );
    }
    return `${lines.join('\n')}`;
  },
};
