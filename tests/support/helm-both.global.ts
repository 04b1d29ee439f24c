import { helmSetup } from "./helm.global.ts";

/** The unit and chart projects: VALKEY_HELM's choice, and both pinned majors. */
export default helmSetup(["4", "3"]);
