import { createHash } from 'node:crypto';
import type { Client } from './client.ts';

/**
 * Schema fingerprint: a normalized, ordered description of everything in one schema, read from
 * pg_catalog. One line per fact, each line naming its object first, so two fingerprints are equal iff
 * the schemas are the same and their difference reads as a list of objects.
 *
 * Hand-written rather than `pg_dump --schema-only`: no process per comparison (rehearse takes several
 * per migration), no dump-order noise, and properties a dump spells differently for equal schemas are
 * normalized (a dropped-and-re-added column's attnum, an ACL that is NULL versus its explicit default).
 * Data is never part of it: not sequence values, not row counts, not statistics.
 */
export interface SchemaFingerprint {
  schema: string;
  /** Sorted (code-unit order), unique. */
  lines: string[];
  /** sha256 of the lines. */
  hash: string;
}

export interface FingerprintOptions {
  /** Tables left out with everything on them (default: Prisma's bookkeeping table). */
  exclude?: string[];
  /**
   * Default true. False leaves the ` owner X` parts out of every line and skips grants and default
   * privileges: two databases on different servers can then compare equal (access control is checked elsewhere).
   */
  ownership?: boolean;
}

/**
 * What one fingerprint line says, in a form a repair can act on. Statements are schema-qualified and end
 * with ';' (some are two statements, e.g. an index and its CLUSTER ON).
 */
export interface Fact {
  /**
   * The object's identity, the same on both sides when only its definition differs: '<kind> <schema>.<name>'
   * e.g. 'index public.Organization_slug_key', 'column public.Organization.legacyErpId',
   * 'constraint public.Organization.Organization_pkey', 'table public.Organization', 'extension pg_trgm',
   * 'function public.touch()', 'columns of public.Entry', 'comment public.Entry.memo'. Several lines can share
   * a key: a view's columns belong to the view, a constraint's index to the constraint, a sequence's
   * parameters and its ownership line to the sequence.
   */
  key: string;
  kind: string;
  /** SQL that creates this fact on a database that lacks it, or null when no single statement can (a whole table, column order). */
  restore: string | null;
  /** SQL that removes this fact from a database that has it, or null. Never CASCADE: a dependent object makes it fail rather than vanish. */
  remove: string | null;
  /**
   * SQL that turns the other side's object of the same key into this one in place (CREATE OR REPLACE,
   * ALTER SEQUENCE, ALTER EXTENSION UPDATE, COMMENT ON), used instead of remove + restore, which would
   * fail on dependents or lose data.
   */
  alter?: string;
  /** Present when the line names an owner: that ` owner X` suffix of the line, and the ALTER … OWNER TO that sets it. */
  owner?: { part: string; restore: string };
  /** Key of the object this one goes with (a column's table, an index's table, an identity sequence's column): a repair of that object covers this one. */
  dependsOn?: string;
  /** For table columns only: the parts needed to alter one in place, each ready to paste into SQL (identifiers quoted). */
  column?: {
    /** Schema-qualified, quoted table name. */
    table: string;
    /** Quoted column name. */
    name: string;
    type: string;
    /** Quoted collation name when it is not the type's default. */
    collation: string | null;
    notNull: boolean;
    default: string | null;
    /** '' none, 'a' always, 'd' by default. */
    identity: string;
    /** The expression of a generated column. */
    generated: string | null;
  };
}

export interface SchemaFacts {
  fingerprint: SchemaFingerprint;
  /** Keyed by fingerprint line. */
  facts: Map<string, Fact>;
}

// Objects that belong to an extension are described by the extension line alone.
const NOT_FROM_EXTENSION = (classid: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${classid}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;

const ONE_LINE = (expr: string) => `regexp_replace(${expr}, '\\s+', ' ', 'g')`;

const REL_KIND = (c: string) =>
  `CASE ${c}.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' WHEN 'S' THEN 'sequence'
                     WHEN 'i' THEN 'index' WHEN 'I' THEN 'index' WHEN 'c' THEN 'composite type' END`;
/** The key of a relation: 'table public.Entry'. */
const REL_KEY = (c: string, n: string) => `(${REL_KIND(c)} || ' ' || ${n}.nspname || '.' || ${c}.relname)`;
const IS_TABLE = (c: string) => `${c}.relkind IN ('r', 'p', 'f')`;
const TABLE_WORD = (c: string) => `CASE WHEN ${c}.relkind = 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END`;
const TYPE_KIND = (t: string) =>
  `CASE ${t}.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'r' THEN 'range type' WHEN 'c' THEN 'composite type' ELSE 'type' END`;
const ROUTINE_WORD = (p: string) => `CASE ${p}.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END`;
const COMMENT_WORD = (c: string) => `CASE WHEN ${c}.relkind = 'c' THEN 'TYPE' WHEN ${c}.relkind IN ('r', 'p') THEN 'TABLE' ELSE upper(${REL_KIND(c)}) END`;
/** The column a sequence belongs to: deptype 'a' for serial (OWNED BY), 'i' for an identity column. */
const OWNED_BY = (c: string) => `
  SELECT tn.nspname AS nsp, t.relname AS tab, a.attname AS col, d.deptype::text AS deptype
    FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
   WHERE d.classid = 'pg_class'::regclass AND d.objid = ${c}.oid AND d.refclassid = 'pg_class'::regclass
     AND d.deptype IN ('a', 'i') LIMIT 1`;
const SEQUENCE_OPTIONS = `format('AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s', format_type(s.seqtypid, NULL), s.seqincrement,
                                 s.seqmin, s.seqmax, s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)`;

/**
 * Every query returns a `line` column; $1 = schema, $2 = excluded table names. The other columns are the
 * line's Fact (see QueryRow). The owner is its own column and appended to the line only when ownership
 * counts, so lines with it are byte-identical to the ones rollbacks were proven with.
 */
const QUERIES: Record<string, string> = {
  schema: `
    SELECT format('schema %I', n.nspname) AS line, format(' owner %I', pg_get_userbyid(n.nspowner)) AS owner,
           format('ALTER SCHEMA %I OWNER TO %I;', n.nspname, pg_get_userbyid(n.nspowner)) AS set_owner,
           'schema' AS kind, 'schema ' || n.nspname AS key, format('CREATE SCHEMA %I;', n.nspname) AS restore
      FROM pg_namespace n WHERE n.nspname = $1`,

  relations: `
    SELECT format('%s %I%s', ${REL_KIND('c')},
                  c.relname,
                  concat(CASE WHEN c.relkind = 'p' THEN ' partitioned by ' || pg_get_partkeydef(c.oid) END,
                         CASE WHEN c.relispartition THEN ' partition of ' || (SELECT string_agg(quote_ident(p.relname), ', ') FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid)
                                                      || ' ' || pg_get_expr(c.relpartbound, c.oid)
                              ELSE (SELECT ' inherits ' || string_agg(quote_ident(p.relname), ', ' ORDER BY i.inhseqno) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid) END,
                         CASE WHEN c.relpersistence = 'u' THEN ' unlogged' END,
                         CASE WHEN c.relrowsecurity THEN ' row level security' END,
                         CASE WHEN c.relforcerowsecurity THEN ' (forced)' END,
                         CASE WHEN c.relreplident NOT IN ('d', 'p') AND c.relkind IN ('r', 'p') THEN ' replica identity ' || c.relreplident::text END,
                         CASE WHEN c.reloptions IS NOT NULL THEN ' with (' || array_to_string(c.reloptions, ', ') || ')' END,
                         CASE WHEN c.relkind IN ('v', 'm') THEN ' as ' || ${ONE_LINE('pg_get_viewdef(c.oid, true)')} END)) AS line,
           format(' owner %I', pg_get_userbyid(c.relowner)) AS owner,
           -- A sequence owned by a column cannot be given away alone: it follows its table's owner.
           CASE WHEN o.tab IS NOT NULL THEN format('ALTER TABLE %I.%I OWNER TO %I;', o.nsp, o.tab, pg_get_userbyid(c.relowner))
                ELSE format('ALTER %s %I.%I OWNER TO %I;', upper(${REL_KIND('c')}), n.nspname, c.relname, pg_get_userbyid(c.relowner)) END AS set_owner,
           ${REL_KIND('c')} AS kind, ${REL_KEY('c', 'n')} AS key,
           -- A table's rows cannot be re-created by a statement, and a sequence's statement is on its parameters' line.
           CASE WHEN c.relkind IN ('v', 'm') THEN format('CREATE %s %I.%I%s AS %s', upper(${REL_KIND('c')}), n.nspname, c.relname,
                                                         coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', ''), pg_get_viewdef(c.oid, true)) END AS restore,
           CASE WHEN c.relkind <> 'S' THEN format('DROP %s %I.%I;', upper(${REL_KIND('c')}), n.nspname, c.relname) END AS remove,
           CASE WHEN c.relkind = 'v' THEN format('CREATE OR REPLACE VIEW %I.%I%s AS %s', n.nspname, c.relname,
                                                 coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', ''), pg_get_viewdef(c.oid, true)) END AS alter,
           CASE WHEN o.deptype = 'i' THEN format('column %s.%s.%s', o.nsp, o.tab, o.col) WHEN o.tab IS NOT NULL THEN 'table ' || o.nsp || '.' || o.tab END AS depends_on
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN LATERAL (${OWNED_BY('c')}) o ON c.relkind = 'S'
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relname <> ALL($2)
       AND ${NOT_FROM_EXTENSION('pg_class', 'c.oid')}`,

  sequences: `
    SELECT format('sequence %I as %s increment %s min %s max %s start %s cache %s%s%s', c.relname, format_type(s.seqtypid, NULL),
                  s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END,
                  CASE WHEN o.tab IS NOT NULL THEN format(' owned by %I.%I', o.tab, o.col) ELSE '' END) AS line,
           'sequence' AS kind, 'sequence ' || n.nspname || '.' || c.relname AS key,
           -- An identity column makes and drops its own sequence.
           CASE WHEN o.deptype IS DISTINCT FROM 'i' THEN
             format('CREATE SEQUENCE %I.%I %s;', n.nspname, c.relname, ${SEQUENCE_OPTIONS}) ||
             CASE WHEN o.tab IS NOT NULL THEN format(' ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I;', n.nspname, c.relname, o.nsp, o.tab, o.col) ELSE '' END END AS restore,
           CASE WHEN o.deptype IS DISTINCT FROM 'i' THEN format('DROP SEQUENCE %I.%I;', n.nspname, c.relname) END AS remove,
           format('ALTER SEQUENCE %I.%I %s%s;', n.nspname, c.relname, ${SEQUENCE_OPTIONS},
                  CASE WHEN o.tab IS NULL THEN ' OWNED BY NONE' WHEN o.deptype = 'a' THEN format(' OWNED BY %I.%I.%I', o.nsp, o.tab, o.col) ELSE '' END) AS alter,
           CASE WHEN o.deptype = 'i' THEN format('column %s.%s.%s', o.nsp, o.tab, o.col) WHEN o.tab IS NOT NULL THEN 'table ' || o.nsp || '.' || o.tab END AS depends_on
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN LATERAL (${OWNED_BY('c')}) o ON true
     WHERE n.nspname = $1 AND ${NOT_FROM_EXTENSION('pg_class', 'c.oid')}`,

  columns: `
    SELECT format('column %I.%I %s%s%s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  CASE WHEN a.attcollation <> t.typcollation THEN ' collate ' || quote_ident(co.collname) ELSE '' END,
                  CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                  CASE a.attidentity WHEN 'a' THEN ' generated always as identity' WHEN 'd' THEN ' generated by default as identity' ELSE '' END,
                  CASE WHEN a.attgenerated = 's' THEN ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ') stored'
                       WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END) AS line,
           -- A view's columns follow from its query: they are part of the view's fact.
           CASE WHEN ${IS_TABLE('c')} THEN 'column' ELSE ${REL_KIND('c')} END AS kind,
           CASE WHEN ${IS_TABLE('c')} THEN 'column ' || n.nspname || '.' || c.relname || '.' || a.attname ELSE ${REL_KEY('c', 'n')} END AS key,
           CASE WHEN ${IS_TABLE('c')} THEN
             format('ALTER %s %I.%I ADD COLUMN %I %s%s%s%s%s;', ${TABLE_WORD('c')}, n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                    CASE WHEN a.attcollation <> t.typcollation THEN ' COLLATE ' || quote_ident(co.collname) ELSE '' END,
                    CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                    CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END,
                    CASE WHEN a.attgenerated = 's' THEN ' GENERATED ALWAYS AS (' || pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
                         WHEN ad.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END) END AS restore,
           CASE WHEN ${IS_TABLE('c')} THEN format('ALTER %s %I.%I DROP COLUMN %I;', ${TABLE_WORD('c')}, n.nspname, c.relname, a.attname) END AS remove,
           CASE WHEN ${IS_TABLE('c')} THEN ${REL_KEY('c', 'n')} END AS depends_on,
           CASE WHEN ${IS_TABLE('c')} THEN
             json_build_object('table', format('%I.%I', n.nspname, c.relname), 'name', quote_ident(a.attname), 'type', format_type(a.atttypid, a.atttypmod),
                               'collation', CASE WHEN a.attcollation <> t.typcollation THEN quote_ident(co.collname) END,
                               'notNull', a.attnotnull, 'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
                               'identity', a.attidentity::text, 'generated', CASE WHEN a.attgenerated = 's' THEN pg_get_expr(ad.adbin, ad.adrelid) END) END AS col
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_collation co ON co.oid = a.attcollation
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname <> ALL($2)
       AND a.attnum > 0 AND NOT a.attisdropped AND ${NOT_FROM_EXTENSION('pg_class', 'c.oid')}`,

  // Column order as its own line: attnum gaps left by dropped columns do not count, a changed order does.
  columnOrder: `
    SELECT format('columns of %I: %s', c.relname, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)) AS line,
           CASE WHEN ${IS_TABLE('c')} THEN 'column order' ELSE ${REL_KIND('c')} END AS kind,
           CASE WHEN ${IS_TABLE('c')} THEN 'columns of ' || n.nspname || '.' || c.relname ELSE ${REL_KEY('c', 'n')} END AS key,
           CASE WHEN ${IS_TABLE('c')} THEN ${REL_KEY('c', 'n')} END AS depends_on
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname <> ALL($2)
       AND a.attnum > 0 AND NOT a.attisdropped AND ${NOT_FROM_EXTENSION('pg_class', 'c.oid')}
     GROUP BY c.relname, c.relkind, n.nspname`,

  constraints: `
    SELECT CASE WHEN con.contypid <> 0 THEN format('constraint %I on domain %I: %s', con.conname, ty.typname, pg_get_constraintdef(con.oid))
                ELSE format('constraint %I on %I: %s', con.conname, c.relname, pg_get_constraintdef(con.oid)) END AS line,
           'constraint' AS kind, 'constraint ' || n.nspname || '.' || coalesce(c.relname, ty.typname) || '.' || con.conname AS key,
           CASE WHEN con.contypid <> 0 THEN format('ALTER DOMAIN %I.%I ADD CONSTRAINT %I %s;', n.nspname, ty.typname, con.conname, pg_get_constraintdef(con.oid))
                ELSE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s;', n.nspname, c.relname, con.conname, pg_get_constraintdef(con.oid)) END AS restore,
           CASE WHEN con.contypid <> 0 THEN format('ALTER DOMAIN %I.%I DROP CONSTRAINT %I;', n.nspname, ty.typname, con.conname)
                ELSE format('ALTER TABLE %I.%I DROP CONSTRAINT %I;', n.nspname, c.relname, con.conname) END AS remove,
           CASE WHEN con.contypid <> 0 THEN 'domain ' || n.nspname || '.' || ty.typname ELSE ${REL_KEY('c', 'n')} END AS depends_on
      FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
      LEFT JOIN pg_class c ON c.oid = con.conrelid
      LEFT JOIN pg_type ty ON ty.oid = con.contypid
     WHERE n.nspname = $1 AND (c.relname IS NULL OR c.relname <> ALL($2))`,

  // The index of a primary key, unique or exclusion constraint is made and dropped by its constraint.
  indexes: `
    SELECT format('index %I on %I: %s%s%s', ic.relname, c.relname, pg_get_indexdef(i.indexrelid),
                  CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END, CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END) AS line,
           CASE WHEN con.oid IS NULL THEN 'index' ELSE 'constraint' END AS kind,
           CASE WHEN con.oid IS NULL THEN 'index ' || n.nspname || '.' || ic.relname ELSE 'constraint ' || n.nspname || '.' || c.relname || '.' || con.conname END AS key,
           CASE WHEN con.oid IS NULL THEN pg_get_indexdef(i.indexrelid) || ';'
                  || CASE WHEN i.indisclustered THEN format(' ALTER TABLE %I.%I CLUSTER ON %I;', n.nspname, c.relname, ic.relname) ELSE '' END END AS restore,
           CASE WHEN con.oid IS NULL THEN format('DROP INDEX %I.%I;', n.nspname, ic.relname) END AS remove,
           ${REL_KEY('c', 'n')} AS depends_on
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = ic.relnamespace
      LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')
     WHERE n.nspname = $1 AND c.relname <> ALL($2)`,

  triggers: `
    SELECT format('trigger %I on %I: %s%s', t.tgname, c.relname, pg_get_triggerdef(t.oid),
                  CASE t.tgenabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA' WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END) AS line,
           'trigger' AS kind, 'trigger ' || n.nspname || '.' || c.relname || '.' || t.tgname AS key,
           pg_get_triggerdef(t.oid) || ';'
             || CASE t.tgenabled WHEN 'O' THEN '' ELSE format(' ALTER TABLE %I.%I %s TRIGGER %I;', n.nspname, c.relname,
                                                                CASE t.tgenabled WHEN 'D' THEN 'DISABLE' WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'ENABLE ALWAYS' END, t.tgname) END AS restore,
           format('DROP TRIGGER %I ON %I.%I;', t.tgname, n.nspname, c.relname) AS remove,
           ${REL_KEY('c', 'n')} AS depends_on
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND NOT t.tgisinternal AND c.relname <> ALL($2)`,

  rules: `
    SELECT format('rule %I on %I: %s', r.rulename, c.relname, ${ONE_LINE('pg_get_ruledef(r.oid, true)')}) AS line,
           'rule' AS kind, 'rule ' || n.nspname || '.' || c.relname || '.' || r.rulename AS key,
           pg_get_ruledef(r.oid) AS restore, format('DROP RULE %I ON %I.%I;', r.rulename, n.nspname, c.relname) AS remove,
           ${REL_KEY('c', 'n')} AS depends_on
      FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND r.rulename <> '_RETURN' AND c.relname <> ALL($2)`,

  policies: `
    SELECT format('policy %I on %I: %s for %s to %s%s%s', p.polname, c.relname, CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                  CASE p.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END, ', ' ORDER BY 1) FROM unnest(p.polroles) r),
                  coalesce(' using (' || pg_get_expr(p.polqual, p.polrelid) || ')', ''),
                  coalesce(' with check (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')) AS line,
           'policy' AS kind, 'policy ' || n.nspname || '.' || c.relname || '.' || p.polname AS key,
           format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s;', p.polname, n.nspname, c.relname, CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                  CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ' ORDER BY 1) FROM unnest(p.polroles) r),
                  coalesce(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', ''),
                  coalesce(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', '')) AS restore,
           format('DROP POLICY %I ON %I.%I;', p.polname, n.nspname, c.relname) AS remove,
           ${REL_KEY('c', 'n')} AS depends_on
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname <> ALL($2)`,

  types: `
    SELECT CASE t.typtype
             WHEN 'e' THEN format('enum %I: %s', t.typname, (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
             WHEN 'd' THEN format('domain %I as %s%s%s', t.typname, format_type(t.typbasetype, t.typtypmod),
                                  CASE WHEN t.typnotnull THEN ' not null' ELSE '' END, coalesce(' default ' || t.typdefault, ''))
             WHEN 'r' THEN format('range type %I of %s', t.typname, (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid))
             WHEN 'c' THEN format('composite type %I: %s', t.typname, (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
                                                                      FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
             ELSE format('type %I (%s)', t.typname, t.typtype::text) END AS line,
           format(' owner %I', pg_get_userbyid(t.typowner)) AS owner,
           format('ALTER %s %I.%I OWNER TO %I;', CASE WHEN t.typtype = 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname, pg_get_userbyid(t.typowner)) AS set_owner,
           ${TYPE_KIND('t')} AS kind, ${TYPE_KIND('t')} || ' ' || n.nspname || '.' || t.typname AS key,
           CASE t.typtype
             WHEN 'e' THEN format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname, (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
             WHEN 'd' THEN format('CREATE DOMAIN %I.%I AS %s%s%s;', n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod),
                                  coalesce(' DEFAULT ' || t.typdefault, ''), CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END)
             WHEN 'r' THEN format('CREATE TYPE %I.%I AS RANGE (SUBTYPE = %s);', n.nspname, t.typname, (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid))
             WHEN 'c' THEN format('CREATE TYPE %I.%I AS (%s);', n.nspname, t.typname, (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
                                                                      FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)) END AS restore,
           CASE WHEN t.typtype IN ('e', 'd', 'r', 'c') THEN format('DROP %s %I.%I;', CASE WHEN t.typtype = 'd' THEN 'DOMAIN' ELSE 'TYPE' END, n.nspname, t.typname) END AS remove
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'r', 'c', 'b', 'm')
       AND (t.typtype <> 'c' OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
       AND NOT (t.typcategory = 'A' AND t.typelem <> 0) AND t.typtype <> 'm'
       AND ${NOT_FROM_EXTENSION('pg_type', 't.oid')}`,

  // The full definition is hashed: a changed body, volatility, SECURITY DEFINER or SET clause all show.
  functions: `
    SELECT format('%s %I(%s)%s definition md5 %s',
                  CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window function' ELSE 'function' END,
                  p.proname, pg_get_function_identity_arguments(p.oid),
                  CASE WHEN p.prokind IN ('f', 'w') THEN ' returns ' || pg_get_function_result(p.oid) ELSE '' END,
                  md5(CASE WHEN p.prokind = 'a' THEN p.oid::regprocedure::text || (SELECT a::text FROM pg_aggregate a WHERE a.aggfnoid = p.oid) ELSE pg_get_functiondef(p.oid) END)) AS line,
           format(' owner %I', pg_get_userbyid(p.proowner)) AS owner,
           format('ALTER %s %I.%I(%s) OWNER TO %I;', ${ROUTINE_WORD('p')}, n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), pg_get_userbyid(p.proowner)) AS set_owner,
           CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END AS kind,
           CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END || ' ' || n.nspname || '.' || p.proname
             || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS key,
           -- pg_get_functiondef is already CREATE OR REPLACE: the same statement creates and alters.
           CASE WHEN p.prokind <> 'a' THEN rtrim(pg_get_functiondef(p.oid), E'\\n') || ';' END AS restore,
           CASE WHEN p.prokind <> 'a' THEN rtrim(pg_get_functiondef(p.oid), E'\\n') || ';' END AS alter,
           format('DROP %s %I.%I(%s);', ${ROUTINE_WORD('p')}, n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS remove
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = $1 AND ${NOT_FROM_EXTENSION('pg_proc', 'p.oid')}`,

  statistics: `
    SELECT format('statistics %I: %s', s.stxname, pg_get_statisticsobjdef(s.oid)) AS line,
           'statistics' AS kind, 'statistics ' || n.nspname || '.' || s.stxname AS key,
           pg_get_statisticsobjdef(s.oid) || ';' AS restore, format('DROP STATISTICS %I.%I;', n.nspname, s.stxname) AS remove,
           (SELECT ${REL_KEY('c', 'cn')} FROM pg_class c JOIN pg_namespace cn ON cn.oid = c.relnamespace WHERE c.oid = s.stxrelid) AS depends_on
      FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace WHERE n.nspname = $1`,

  extensions: `
    SELECT format('extension %I version %s', e.extname, e.extversion) AS line,
           'extension' AS kind, 'extension ' || e.extname AS key,
           format('CREATE EXTENSION %I WITH SCHEMA %I VERSION %L;', e.extname, n.nspname, e.extversion) AS restore,
           format('DROP EXTENSION %I;', e.extname) AS remove,
           format('ALTER EXTENSION %I UPDATE TO %L;', e.extname, e.extversion) AS alter
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = $1`,

  comments: `
    SELECT CASE WHEN d.objsubid = 0 THEN format('comment on %I: %s', c.relname, d.description)
                ELSE format('comment on %I.%I: %s', c.relname, a.attname, d.description) END AS line,
           'comment' AS kind,
           'comment ' || n.nspname || '.' || c.relname || CASE WHEN d.objsubid = 0 THEN '' ELSE '.' || a.attname END AS key,
           CASE WHEN d.objsubid = 0 THEN format('COMMENT ON %s %I.%I IS %L;', ${COMMENT_WORD('c')}, n.nspname, c.relname, d.description)
                ELSE format('COMMENT ON COLUMN %I.%I.%I IS %L;', n.nspname, c.relname, a.attname, d.description) END AS restore,
           CASE WHEN d.objsubid = 0 THEN format('COMMENT ON %s %I.%I IS NULL;', ${COMMENT_WORD('c')}, n.nspname, c.relname)
                ELSE format('COMMENT ON COLUMN %I.%I.%I IS NULL;', n.nspname, c.relname, a.attname) END AS remove,
           CASE WHEN d.objsubid = 0 THEN format('COMMENT ON %s %I.%I IS %L;', ${COMMENT_WORD('c')}, n.nspname, c.relname, d.description)
                ELSE format('COMMENT ON COLUMN %I.%I.%I IS %L;', n.nspname, c.relname, a.attname, d.description) END AS alter,
           CASE WHEN d.objsubid <> 0 AND ${IS_TABLE('c')} THEN 'column ' || n.nspname || '.' || c.relname || '.' || a.attname ELSE ${REL_KEY('c', 'n')} END AS depends_on
      FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
     WHERE n.nspname = $1 AND c.relname <> ALL($2)`,

  // NULL ACLs are expanded to the owner's defaults, so a GRANT followed by its REVOKE compares equal.
  // target is what GRANT … ON names; cols is the column list a column privilege adds after the privilege.
  grants: `
    WITH acl AS (
      SELECT format('%s %I', CASE c.relkind WHEN 'S' THEN 'sequence' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END, c.relname) AS object,
             ${REL_KEY('c', 'n')} AS okey, format('%s %I.%I', CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, c.relname) AS target, '' AS cols,
             aclexplode(coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) AS x
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND c.relname <> ALL($2) AND ${NOT_FROM_EXTENSION('pg_class', 'c.oid')}
      UNION ALL
      SELECT format('column %I.%I', c.relname, a.attname),
             CASE WHEN ${IS_TABLE('c')} THEN 'column ' || n.nspname || '.' || c.relname || '.' || a.attname ELSE ${REL_KEY('c', 'n')} END,
             format('TABLE %I.%I', n.nspname, c.relname), format(' (%I)', a.attname), aclexplode(a.attacl)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND a.attacl IS NOT NULL AND NOT a.attisdropped AND c.relname <> ALL($2)
      UNION ALL
      SELECT format('function %I(%s)', p.proname, pg_get_function_identity_arguments(p.oid)),
             CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END || ' ' || n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
             format('ROUTINE %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), '',
             aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND ${NOT_FROM_EXTENSION('pg_proc', 'p.oid')}
      UNION ALL
      SELECT format('type %I', t.typname), ${TYPE_KIND('t')} || ' ' || n.nspname || '.' || t.typname, format('TYPE %I.%I', n.nspname, t.typname), '',
             aclexplode(coalesce(t.typacl, acldefault('T', t.typowner)))
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'r') AND ${NOT_FROM_EXTENSION('pg_type', 't.oid')}
      UNION ALL
      SELECT format('schema %I', n.nspname), 'schema ' || n.nspname, format('SCHEMA %I', n.nspname), '', aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner)))
        FROM pg_namespace n WHERE n.nspname = $1
    ), g AS (
      SELECT *, CASE WHEN (x).grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid((x).grantee)) END AS grantee FROM acl
    )
    SELECT format('grant %s on %s to %s%s', (x).privilege_type, object, grantee, CASE WHEN (x).is_grantable THEN ' with grant option' ELSE '' END) AS line,
           'grant' AS kind, format('grant %s%s on %s to %s', (x).privilege_type, cols, okey, grantee) AS key,
           format('GRANT %s%s ON %s TO %s%s;', (x).privilege_type, cols, target, grantee, CASE WHEN (x).is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS restore,
           format('REVOKE %s%s ON %s FROM %s;', (x).privilege_type, cols, target, grantee) AS remove,
           okey AS depends_on
      FROM g`,

  defaultPrivileges: `
    SELECT format('default privileges of %I for %s: %s', pg_get_userbyid(d.defaclrole),
                  CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END,
                  array_to_string(d.defaclacl, ',')) AS line,
           'default privileges' AS kind,
           format('default privileges of %s for %s in %s', pg_get_userbyid(d.defaclrole),
                  CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' ELSE 'schemas' END, n.nspname) AS key
      FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace WHERE n.nspname = $1`,
};

/** Queries about access control: left out when ownership does not count. */
const ACCESS_QUERIES = new Set(['grants', 'defaultPrivileges']);

interface QueryRow {
  line: string | null;
  /** ` owner X`, appended to the line when ownership counts. */
  owner?: string | null;
  set_owner?: string | null;
  key?: string | null;
  kind?: string | null;
  restore?: string | null;
  remove?: string | null;
  alter?: string | null;
  depends_on?: string | null;
  col?: Fact['column'] | null;
}

async function readSchema(client: Client, schema: string, { exclude = ['_prisma_migrations'], ownership = true }: FingerprintOptions): Promise<SchemaFacts> {
  const facts = new Map<string, Fact>();
  for (const [name, sql] of Object.entries(QUERIES)) {
    if (!ownership && ACCESS_QUERIES.has(name)) continue;
    const { rows } = await client.query<QueryRow>(sql, sql.includes('$2') ? [schema, exclude] : [schema]);
    for (const r of rows) {
      if (!r.line) continue;
      const withOwner = ownership && r.owner;
      const line = withOwner ? r.line + r.owner : r.line;
      if (facts.has(line)) continue;
      const fact: Fact = { key: r.key ?? line, kind: r.kind ?? name, restore: r.restore ?? null, remove: r.remove ?? null };
      if (r.alter) fact.alter = r.alter;
      if (withOwner && r.owner && r.set_owner) fact.owner = { part: r.owner, restore: r.set_owner };
      if (r.depends_on) fact.dependsOn = r.depends_on;
      if (r.col) fact.column = r.col;
      facts.set(line, fact);
    }
  }
  const lines = [...facts.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { facts, fingerprint: { schema, lines, hash: createHash('sha256').update(lines.join('\n')).digest('hex') } };
}

/** Reads the fingerprint of `schema` (one round trip per object kind; run it outside a transaction or inside, it only reads). */
export async function schemaFingerprint(client: Client, schema: string, options: FingerprintOptions = {}): Promise<SchemaFingerprint> {
  return (await readSchema(client, schema, options)).fingerprint;
}

/** The fingerprint together with what each of its lines says: identity, and the statements that create and remove it. Same queries, same lines. */
export async function schemaFacts(client: Client, schema: string, options: FingerprintOptions = {}): Promise<SchemaFacts> {
  return readSchema(client, schema, options);
}

export const sameSchema = (a: SchemaFingerprint, b: SchemaFingerprint): boolean => a.hash === b.hash;

export interface FingerprintDiff {
  /** Lines only in the expected fingerprint. */
  missing: string[];
  /** Lines only in the actual fingerprint. */
  unexpected: string[];
}

export function diffFingerprints(expected: SchemaFingerprint, actual: SchemaFingerprint): FingerprintDiff {
  const a = new Set(expected.lines);
  const b = new Set(actual.lines);
  return { missing: expected.lines.filter((l) => !b.has(l)), unexpected: actual.lines.filter((l) => !a.has(l)) };
}

/**
 * The difference as unified-diff-like lines, merged in object order so the two versions of one object
 * sit next to each other: `- ` only in expected, `+ ` only in actual.
 */
export function renderFingerprintDiff(diff: FingerprintDiff, labels: { expected: string; actual: string }): string {
  const merged = [...diff.missing.map((l) => ({ l, sign: '-' })), ...diff.unexpected.map((l) => ({ l, sign: '+' }))].sort((x, y) =>
    x.l < y.l ? -1 : x.l > y.l ? 1 : x.sign < y.sign ? -1 : 1,
  );
  const head = `--- ${labels.expected}\n+++ ${labels.actual}`;
  return [head, ...merged.map(({ l, sign }) => `${sign} ${l}`)].join('\n');
}
