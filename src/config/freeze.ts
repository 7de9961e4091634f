/**
 * Deep freezing of the normalised Config. Every module shares one Config object, so a module
 * that "adjusts" a value in place would silently change it for all the others (and for every
 * later session). Freezing turns that bug into an immediate TypeError in strict-mode code.
 */

// The URL setters that would otherwise still work on a frozen URL: its state lives in internal
// slots behind prototype accessors, which Object.freeze does not reach.
const URL_SETTERS = ['hash', 'host', 'hostname', 'href', 'password', 'pathname', 'port', 'protocol', 'search', 'username'] as const;

/**
 * Make a URL read-only: its setters throw and `searchParams` returns a copy. Code that needs
 * a changed URL must copy it first (`new URL(url)`), which is what it should do anyway.
 */
export function freezeUrl(url: URL): URL {
  const proto = URL.prototype;
  for (const key of URL_SETTERS) {
    const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
    if (get === undefined) continue;
    Object.defineProperty(url, key, {
      get: () => get.call(url) as string,
      set: () => {
        throw new TypeError(`config URLs are read-only: copy with new URL(url) before setting ${key}`);
      },
      enumerable: false,
    });
  }
  const search = Object.getOwnPropertyDescriptor(proto, 'search')?.get;
  if (search !== undefined) {
    // searchParams.set() would write through to the URL; hand out a detached copy instead.
    Object.defineProperty(url, 'searchParams', { get: () => new URLSearchParams(search.call(url) as string), enumerable: false });
  }
  return Object.freeze(url);
}

/** Freeze `value` and everything reachable from it; URLs get {@link freezeUrl}. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (value instanceof URL) {
    freezeUrl(value);
    return value;
  }
  for (const v of Object.values(value as object)) deepFreeze(v);
  return Object.freeze(value);
}
