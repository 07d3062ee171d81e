/** A minimal typed emitter for event unions discriminated by `type`. */
export type Listener<E> = (event: E) => void;

export class Emitter<E extends { type: string }> {
  readonly #listeners = new Map<string, Set<Listener<never>>>();
  readonly #all = new Set<Listener<E>>();
  /** Called when a listener throws: listeners never break the emitter. */
  onListenerError: (err: unknown) => void = (err) =>
    queueMicrotask(() => {
      throw err;
    });

  on<K extends E['type']>(type: K, listener: Listener<Extract<E, { type: K }>>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set!.delete(listener as Listener<never>);
  }

  /** Every event, in order. */
  subscribe(listener: Listener<E>): () => void {
    this.#all.add(listener);
    return () => this.#all.delete(listener);
  }

  emit(event: E): void {
    for (const l of [...(this.#listeners.get(event.type) ?? [])]) this.#call(l as Listener<E>, event);
    for (const l of [...this.#all]) this.#call(l, event);
  }

  #call(l: Listener<E>, event: E): void {
    try {
      l(event);
    } catch (err) {
      this.onListenerError(err);
    }
  }
}

/** A promise that settles when a condition is reached, or rejects on abort. */
export class Waiters<T> {
  readonly #waiting = new Set<{ resolve: (v: T) => void; reject: (e: unknown) => void }>();

  wait(signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const w = {
        resolve: (v: T) => (signal?.removeEventListener('abort', onAbort), resolve(v)),
        reject: (e: unknown) => (signal?.removeEventListener('abort', onAbort), reject(e)),
      };
      const onAbort = () => {
        this.#waiting.delete(w);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.add(w);
    });
  }

  resolveAll(v: T): void {
    const ws = [...this.#waiting];
    this.#waiting.clear();
    for (const w of ws) w.resolve(v);
  }

  rejectAll(e: unknown): void {
    const ws = [...this.#waiting];
    this.#waiting.clear();
    for (const w of ws) w.reject(e);
  }
}
