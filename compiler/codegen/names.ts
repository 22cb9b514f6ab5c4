// The one place generated identifiers come from. A NameScope hands out names that are
// valid JavaScript identifiers, never reserved words or globals the generated code uses,
// and never equal to a name already handed out in the scope (or its parent), so the
// user's names survive and nothing collides with them.

const RESERVED = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for " +
    "function if import in instanceof new null return super switch this throw true try typeof var void while with " +
    "yield let static implements interface package private protected public await async of as any boolean number " +
    "string symbol type from get set declare module namespace readonly keyof infer is asserts unique never unknown " +
    "object bigint undefined NaN Infinity Math Float64Array Float32Array Int32Array Array Object Number String Error " +
    "Symbol JSON globalThis arguments eval constructor prototype __proto__ toString valueOf hasOwnProperty " +
    // globals the generated code (or a reader) relies on: a parameter of that name would hide them
    "RangeError TypeError Int32Array Uint32Array Uint8Array Float16Array Map Set WeakMap Promise BigInt Reflect Proxy " +
    "Date console require module exports process window self"
  ).split(" "),
);

const IDENT = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u;

export function isValidIdentifier(name: string): boolean {
  return IDENT.test(name) && !RESERVED.has(name);
}

export interface NameScope {
  /** A fresh name based on `hint` (the hint itself when free). */
  fresh(hint: string): string;
  /** Marks a name as taken without handing it out. */
  reserve(name: string): void;
  has(name: string): boolean;
  child(): NameScope;
  /**
   * A fresh name that also differs from every name handed out in this scope's child scopes,
   * so that it can be declared here after they were (a buffer hoisted out of a loop).
   */
  freshHere(hint: string): string;
}

/**
 * A scope of names. A child sees its ancestors' names; the root also remembers every name
 * handed out anywhere below it, so that a module-level name created late (a kernel) never
 * equals a local variable of some function, which would shadow it.
 */
export function createNameScope(parent?: NameScope): NameScope {
  return makeScope(parent as ScopeImpl | undefined);
}

interface ScopeImpl extends NameScope {
  readonly everywhere: Set<string>;
  /** Names handed out in this scope and every scope below it. */
  readonly below: Set<string>;
  readonly parentScope: ScopeImpl | undefined;
}

function makeScope(parent: ScopeImpl | undefined): ScopeImpl {
  const taken = new Set<string>();
  const everywhere = parent ? parent.everywhere : new Set<string>();
  const below = new Set<string>();
  const next = new Map<string, number>();
  const take = (name: string): void => {
    taken.add(name);
    everywhere.add(name);
    for (let s: ScopeImpl | undefined = scope; s; s = s.parentScope) s.below.add(name);
  };
  const pick = (hint: string, wide: boolean): string => {
    let base = hint.replace(/[^\p{ID_Continue}$]/gu, "_");
    if (!base || !/^[\p{ID_Start}$_]/u.test(base)) base = `_${base}`;
    // the root avoids every name used anywhere below it; a child, only its ancestors' (and,
    // for freshHere, its descendants')
    const free = (name: string): boolean =>
      isValidIdentifier(name) && !scope.has(name) && (parent !== undefined || !everywhere.has(name)) && !(wide && below.has(name));
    if (free(base)) {
      take(base);
      return base;
    }
    // numbered names continue from the last one handed out for the stem (not from 2 each
    // time: ten thousand temporaries t, t2, ... must not cost a search each)
    const stem = /\d$/.test(base) ? `${base}_` : base;
    for (let n = next.get(stem) ?? 2; ; n++) {
      const candidate = `${stem}${n}`;
      if (free(candidate)) {
        next.set(stem, n + 1);
        take(candidate);
        return candidate;
      }
    }
  };
  const scope: ScopeImpl = {
    everywhere,
    below,
    parentScope: parent,
    has: (name) => taken.has(name) || (parent ? parent.has(name) : false),
    reserve: (name) => take(name),
    fresh: (hint) => pick(hint, false),
    freshHere: (hint) => pick(hint, true),
    child: () => makeScope(scope),
  };
  return scope;
}

/** A property key in an object literal or interface: quoted when it is not a plain identifier. */
export function propertyKey(name: string): string {
  if (name === "__proto__") return `["__proto__"]`;
  return IDENT.test(name) ? name : JSON.stringify(name);
}

/** Reads a property: a.b, or a["b"] when b is not a plain identifier. */
export function propertyAccess(obj: string, name: string): string {
  return IDENT.test(name) && name !== "__proto__" ? `${obj}.${name}` : `${obj}[${JSON.stringify(name)}]`;
}
