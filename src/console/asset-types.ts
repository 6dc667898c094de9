/** One embedded console file: what `build.ts` generates into `assets.generated.ts`. */
export interface ConsoleAsset {
  /** The file name under /console/assets/ (content-hashed), or `index.html` for the page. */
  readonly name: string;
  /** Content-Type header value. */
  readonly type: string;
  /** Strong ETag: a hash of the body. */
  readonly etag: string;
  readonly body: string;
}
