/**
 * A progress callback for a bounded load: prints `[bench] <label>: 45 % (90000/200000 ops, 12 s)`
 * at most every `everyMs`, counting towards whichever bound (operations or seconds) is nearer.
 */
export function progressLine(
  label: string,
  bounds: { total: number; seconds: number; unit: string },
  print: (line: string) => void = console.log,
  everyMs = 5_000,
): (completed: number) => void {
  const started = performance.now();
  let last = started;
  return (completed) => {
    const now = performance.now();
    if (now - last < everyMs) return;
    last = now;
    const elapsed = (now - started) / 1000;
    const share = Math.min(1, Math.max(completed / bounds.total, elapsed / bounds.seconds));
    print(
      `[bench] ${label}: ${Math.round(share * 100)} % (${completed}/${bounds.total} ${bounds.unit}, ${elapsed.toFixed(0)} s of at most ${bounds.seconds} s)`,
    );
  };
}
