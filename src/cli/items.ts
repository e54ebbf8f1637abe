/** `ptask items <id> <step>`: the rows of protocol/itemRows.ts as a table, like GNU parallel's joblog. */
import type { ItemsReport } from '../protocol/itemRows';

/** The report as a table, with a header of counts and where the log is. */
export function formatItems(report: ItemsReport): string {
  const counts = `${report.step}: ${report.done}/${report.total} done${report.failed ? `, ${report.failed} failed` : ''}${report.skipped ? `, ${report.skipped} skipped` : ''}${report.toRun ? `, ${report.toRun} to run` : ''}`;
  if (!report.items.length) return `${counts}\nlog: ${report.log}`;
  const rows = report.items.map((r) => [String(r.index), r.state, r.attempts === undefined ? '' : String(r.attempts), oneLine(r.item, 60), oneLine(r.error ?? '', 80)]);
  const header = ['index', 'state', 'attempts', 'item', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [counts, line(header), ...rows.map(line), `log: ${report.log} (each item's lines start with "[<index>] ")`].join('\n');
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
