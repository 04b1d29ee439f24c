/**
 * Kubernetes resource quantities, as far as the harness needs them: CPU in millicores,
 * memory and storage in bytes, and scaling them the way fixtures/fit/rules.yaml documents
 * (rounded up to whole millicores, whole MiB).
 */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };

function parse(quantity: string | number): number {
  if (typeof quantity === "number") return quantity;
  const match = /^([0-9]+(?:\.[0-9]+)?)([a-zA-Z]*)$/.exec(quantity.trim());
  const unit = match?.[2] ?? "";
  const factor = unit === "" ? 1 : (BINARY[unit] ?? DECIMAL[unit]);
  if (!match || factor === undefined) throw new Error(`${JSON.stringify(quantity)} is not a Kubernetes quantity`);
  return Number(match[1]) * factor;
}

/** CPU in millicores: "900m" -> 900, "1.5" -> 1500. */
export function millicores(quantity: string | number): number {
  return Math.round(parse(quantity) * 1000);
}

/** Memory or storage in bytes: "512Mi" -> 536870912, "1G" -> 1e9. */
export function bytes(quantity: string | number): number {
  return Math.round(parse(quantity));
}

/** A CPU quantity times `factor`, rounded up to whole millicores: ("250m", 0.1) -> "25m". */
export function scaleCpu(quantity: string | number, factor: number): string {
  return `${Math.max(1, Math.ceil(millicores(quantity) * factor - 1e-9))}m`;
}

/** A memory or storage quantity times `factor`, rounded up to whole MiB: ("10Gi", 0.01) -> "103Mi". */
export function scaleBytes(quantity: string | number, factor: number): string {
  return `${Math.max(1, Math.ceil((bytes(quantity) * factor) / 2 ** 20 - 1e-9))}Mi`;
}

export interface ResourceList {
  cpu?: string | number;
  memory?: string | number;
  [name: string]: string | number | undefined;
}

/** A resource list with CPU and memory scaled (other resources kept). */
export function scaleResourceList(list: ResourceList | undefined, factor: number): ResourceList | undefined {
  if (!list) return list;
  const scaled: ResourceList = { ...list };
  if (list.cpu !== undefined) scaled.cpu = scaleCpu(list.cpu, factor);
  if (list.memory !== undefined) scaled.memory = scaleBytes(list.memory, factor);
  return scaled;
}

/** Whether two quantities are the same amount ("1Gi" and "1024Mi" are). */
export function sameQuantity(a: string | number | undefined, b: string | number | undefined, kind: "cpu" | "bytes") {
  if (a === undefined || b === undefined) return a === b;
  return kind === "cpu" ? millicores(a) === millicores(b) : bytes(a) === bytes(b);
}
