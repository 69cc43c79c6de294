// The status report (npm run status): every app by environment, what runs where, what waits.
// commands/status.ts builds it; its text and the promotion board (board.ts) print it.
import type { ImageOrigin } from '../render/imagesource.js';

export interface SetBy {
  file: string;
  line?: number;
  /** `images` (an images: entry), `patch`, or `resource` (the image as written in the manifest). */
  kind: ImageOrigin['kind'];
  /** Whether that file is the overlay's own kustomization. */
  overlay: boolean;
}

export interface PinView {
  /** Image name as rendered (after any newName). */
  name: string;
  tag?: string;
  digest?: string;
  /** 12 hex characters of the digest. */
  short?: string;
  /** The file that sets the tag/digest; absent when it cannot be told (see `unknown`). */
  setBy?: SetBy;
  /** The file that sets the name, when another one than setBy (an images entry with newName). */
  nameSetBy?: SetBy;
  unknown?: string;
  /** The app's containers with this image render different references (see containers). */
  mixed?: boolean;
  /** Every container that runs the image: object, container name, the rendered reference, and its origin. */
  containers: Array<{ object: string; container: string; image: string; setBy?: SetBy; unknown?: string }>;
}

export interface AppStatus {
  id: string;
  /** Environments that have an overlay for the app. */
  deployedTo: string[];
  /** Overlay folder per environment. */
  overlays: Record<string, string>;
  /** image (the name the base writes) -> environment -> rendered image (null: not rendered there). */
  images: Record<string, Record<string, PinView | null>>;
  /** promotion.files (relative to the overlay) -> environment -> its content hash (null: the overlay has none). */
  files: Record<string, Record<string, FileView | null>>;
  /**
   * Per promotion source that differs: `waiting` (the source is newer: promote moves forward),
   * `ahead` (the target is newer: promoting would downgrade), `differs` (no order can be told, or
   * parts move both ways), `behind` (a source further up the path is newer; nothing waits directly).
   */
  relations: Relation[];
  /** Per promotion source whose release is newer (state waiting): the images that move. */
  pending: Array<{ from: string; to: string; images: string[] }>;
  /** Whether the environments that run the app run different pins. */
  differs: boolean;
  /** Environment -> why the app could not be rendered there. */
  errors?: Record<string, string>;
  /** Environment -> why the toolkit does not render the Argo CD Application deploying it there (a plugin, a chart repository, ...). */
  notRendered?: Record<string, string>;
  /**
   * Environment -> the Argo CD Application that Argo CD's repo-server code renders for it (Helm,
   * plain directory, jsonnet, kustomize overrides, several sources): its images come from that render.
   */
  applications?: Record<string, { name: string; source: string; path: string }>;
}

export interface FileView {
  /** Repo-relative path in that environment. */
  file: string;
  sha256: string;
  short: string;
}

/** One release part (an image or a release file) of a source set against the target. */
export interface RelationItem {
  kind: 'image' | 'file';
  name: string;
  from: string;
  to: string;
  /** How the source's part stands to the target's. */
  relation: 'same' | 'newer' | 'older' | 'unordered';
  by?: 'semver' | 'created';
  why?: string;
}

export interface Relation {
  from: string;
  to: string;
  state: 'waiting' | 'ahead' | 'behind' | 'differs';
  /** Whether `from` is one of the target's own promotesFrom. */
  direct: boolean;
  items: RelationItem[];
}

export interface StatusReport {
  environments: Array<{ name: string; promotesFrom: string[]; requireDigests: boolean }>;
  apps: AppStatus[];
  pending: Array<{ app: string; from: string; to: string; images: string[] }>;
  /** Pairs of environments and the apps (deployed to both) whose rendered images differ. */
  differences: Array<{ envs: [string, string]; apps: string[] }>;
}
