import { ensureImages } from "./index.ts";

const started = performance.now();
const images = await ensureImages();
console.log(JSON.stringify(images, null, 2));
console.log(`[images] ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
