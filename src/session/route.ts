// Which way a session reaches the helper, by the contract's route table
// (src/contract/index.ts; the launcher walks the same table in C, choose_route
// in src/helper/launcher.c). docs/routes.md draws the three routes.
import { ROUTE_TABLE, type INVOCATIONS, type Route, type RouteRow, type TERMINALS } from '../contract/index.js';

/** What is known of a session when its route is chosen. */
export interface RouteFacts {
  readonly invocation: (typeof INVOCATIONS)[number];
  readonly terminals: (typeof TERMINALS)[number];
  readonly plainRecord: boolean;
  readonly helperRunnable: boolean;
}

/** The route of the first row of the table whose conditions all hold. */
export function chooseRoute(facts: RouteFacts): Route {
  const holds = <T>(want: T | '*', have: T): boolean => want === '*' || want === have;
  const row = ROUTE_TABLE.find(
    (r) =>
      holds(r.invocation, facts.invocation) &&
      holds(r.terminals, facts.terminals) &&
      holds(r.plainRecord, facts.plainRecord) &&
      holds(r.helperRunnable, facts.helperRunnable),
  );
  return row?.route ?? 'node';
}

/** The table as Markdown, for docs/routes.md. */
export function renderRouteTable(): string {
  const cell = (v: RouteRow[keyof RouteRow]): string =>
    v === '*' ? 'any' : v === true ? 'yes' : v === false ? 'no' : String(v);
  return [
    '| arguments | terminals | plain record | helper runnable | route | why |',
    '|---|---|---|---|---|---|',
    ...ROUTE_TABLE.map(
      (r) =>
        `| ${cell(r.invocation)} | ${cell(r.terminals)} | ${cell(r.plainRecord)} | ${cell(r.helperRunnable)} | **${r.route}** | ${r.why} |`,
    ),
  ].join('\n');
}
