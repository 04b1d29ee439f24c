/**
 * One promise per key and process: concurrent and later callers share the first call's
 * work (a build, a resolution, an upload). A failure is not kept, so the next call tries
 * again. `keyOf` names what makes two calls the same (the argument itself by default).
 */
export function sharedByKey<A, V>(
  make: (arg: A) => Promise<V>,
  keyOf: (arg: A) => unknown = (arg) => arg,
): (arg: A) => Promise<V> {
  const pending = new Map<unknown, Promise<V>>();
  return (arg) => {
    const key = keyOf(arg);
    let value = pending.get(key);
    if (!value) {
      value = make(arg);
      pending.set(key, value);
      value.catch(() => pending.delete(key));
    }
    return value;
  };
}
