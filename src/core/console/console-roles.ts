/**
 * Console roles (Safety Standard Art. 5(1): rights differentiated and minimal for each task), pure.
 *
 *  - cpo (the privacy officer): everything;
 *  - security (the security team): alerts, incidents, holds, audit status and access charts;
 *  - auditor (internal audit, the regulator's inspector): read-only, everything but acts.
 *
 * A staff member acts in the audit log and in the services as the principal `staff:<id>`. The
 * prefix cannot collide with a catalog principal (lower kebab-case, no colon) or be claimed with
 * an API key: only a console session produces it.
 */
import type { Catalog } from "../catalog/catalog-schema.js";
import type { StaffRole } from "../ports.js";

export const STAFF_ROLES = ["cpo", "security", "auditor"] as const satisfies readonly StaffRole[];

/** What can be asked of the console: a page to see, or an act. */
export const CONSOLE_PERMISSIONS = [
  "view.overview",
  "view.datamap",
  "view.provisions",
  "view.alerts",
  "view.incidents",
  "view.destruction",
  "view.review",
  "view.audit",
  "view.activity",
  "view.requests",
  "act.incident.open",
  "act.hold.lift",
  "act.review.signoff",
  "act.audit.verify",
] as const;
export type ConsolePermission = (typeof CONSOLE_PERMISSIONS)[number];

const ALL_VIEWS = CONSOLE_PERMISSIONS.filter((p) => p.startsWith("view."));

export const ROLE_PERMISSIONS: Readonly<Record<StaffRole, ReadonlySet<ConsolePermission>>> = {
  cpo: new Set(CONSOLE_PERMISSIONS),
  security: new Set<ConsolePermission>(["view.overview", "view.alerts", "view.incidents", "view.audit", "view.activity", "act.incident.open", "act.hold.lift", "act.audit.verify"]),
  auditor: new Set<ConsolePermission>([...ALL_VIEWS, "act.audit.verify"]),
};

/** Whether a role may do something: anything not granted is denied. */
export const roleAllows = (role: StaffRole, p: ConsolePermission): boolean => ROLE_PERMISSIONS[role]?.has(p) ?? false;

export const isStaffRole = (v: unknown): v is StaffRole => typeof v === "string" && (STAFF_ROLES as readonly string[]).includes(v);

/** Staff ids: lower kebab-case like principals, 2–40 characters. */
export const STAFF_ID_RE = /^[a-z][a-z0-9-]{1,39}$/;

export const STAFF_PREFIX = "staff:";
/** The principal a staff member acts as. */
export const staffPrincipal = (id: string): string => `${STAFF_PREFIX}${id}`;

/**
 * Who may act on incidents, alerts and audit: a catalog principal with the role operator, or a
 * staff member signed in to the console (whose finer role the console has already checked).
 */
export const isOperatorPrincipal = (catalog: Catalog, principal: string): boolean =>
  catalog.principals[principal]?.role === "operator" || (principal.startsWith(STAFF_PREFIX) && STAFF_ID_RE.test(principal.slice(STAFF_PREFIX.length)));
