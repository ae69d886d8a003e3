/**
 * ListContainers and ListPodSandbox are called every second by kubelet and answer hundreds of
 * items that rarely change. Each item's encoding is kept until the item's `version` changes
 * (its state, for both), and a response is the concatenation of those encodings: a repeated
 * message field is the same bytes whether encoded item by item or all at once, so the
 * encoding of a one-item response is exactly that item's share of the whole.
 */
export class ListEncoder<Item extends object, Wire> {
  private readonly cache = new WeakMap<Item, { version: string; bytes: Buffer }>();

  constructor(
    /** Encodes the response message carrying just this one item, e.g. `{ containers: [wire] }`. */
    private readonly encodeAlone: (wire: Wire) => Buffer,
    private readonly toWire: (item: Item) => Wire,
    private readonly version: (item: Item) => string,
  ) {}

  encode(items: readonly Item[]): Buffer {
    return Buffer.concat(items.map((item) => this.encodeItem(item)));
  }

  /** One item's share of a response: the cached bytes while its version holds. */
  encodeItem(item: Item): Buffer {
    const version = this.version(item);
    let cached = this.cache.get(item);
    if (!cached || cached.version !== version) {
      cached = { version, bytes: this.encodeAlone(this.toWire(item)) };
      this.cache.set(item, cached);
    }
    return cached.bytes;
  }
}

/** Lets a handler answer with bytes it already encoded; everything else is encoded as usual. */
export function acceptPreEncoded<Res>(serialize: (value: Res) => Buffer): (value: Res | Buffer) => Buffer {
  return (value) => (Buffer.isBuffer(value) ? value : serialize(value));
}
