import type pg from 'pg';
import type { DataSource } from 'typeorm';

/** A node of PostgreSQL's `EXPLAIN (ANALYZE, FORMAT JSON)` plan, as far as the scale tests read it. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

/** The node and every node under it. */
export const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** The plan's scans of tables and indexes (not of functions, CTEs or subqueries). */
export const scansOf = (plan: PlanNode): PlanNode[] =>
  nodesOf(plan).filter((node) => /Scan$/.test(node['Node Type']) && !['Function Scan', 'CTE Scan', 'Subquery Scan'].includes(node['Node Type']));

/**
 * Rows the scans read: returned or removed by a filter or recheck, in every loop (EXPLAIN gives per-loop averages).
 * A bitmap heap scan reads the rows its bitmap index scan found: they are counted once.
 */
export const rowsRead = (scans: PlanNode[]): number =>
  scans
    .filter((node) => node['Node Type'] !== 'Bitmap Index Scan')
    .reduce((sum, node) => sum + (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * node['Actual Loops'], 0);

/** How a scan reads: `Index Scan using ix_… on webhook_events`. */
export const describeScan = (node: PlanNode): string =>
  `${node['Node Type']}${node['Index Name'] ? ` using ${node['Index Name']}` : ''} on ${node['Relation Name'] ?? '?'}`;

/** One query an action issued, as its plan read: the scans (described) and the rows they read. */
export interface QueryPlanSummary {
  sql: string;
  scans: string[];
  rowsRead: number;
}

/** A data source that records the queries sent through it, and runs those an action issued under EXPLAIN ANALYZE. */
export interface QueryPlanRecorder {
  /** The data source to give the code under test. */
  dataSource: DataSource;
  /** Runs `action`, then each query it issued under EXPLAIN ANALYZE on `pool`; per query, its plan's summary. */
  plansOf(action: () => Promise<unknown>): Promise<QueryPlanSummary[]>;
}

export function recordQueryPlans(source: DataSource, pool: pg.Pool): QueryPlanRecorder {
  const issued: { sql: string; values: unknown[] }[] = [];
  const dataSource = new Proxy(source, {
    get(target, property, receiver) {
      if (property === 'query') {
        return (sql: string, values: unknown[] = []) => {
          issued.push({ sql, values });
          return target.query(sql, values);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  });
  return {
    dataSource,
    async plansOf(action) {
      issued.length = 0;
      await action();
      const plans: QueryPlanSummary[] = [];
      for (const { sql, values } of issued) {
        const [row] = (await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, values)).rows as { 'QUERY PLAN': [{ Plan: PlanNode }] }[];
        const scans = scansOf(row!['QUERY PLAN'][0].Plan);
        plans.push({ sql, scans: scans.map(describeScan), rowsRead: rowsRead(scans) });
      }
      return plans;
    },
  };
}
