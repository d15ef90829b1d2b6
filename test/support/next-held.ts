/** The next pass of a step, held until the test lets it go: `reached` once it gets there, `release` lets it on. */
export class NextHeld {
  private gate?: { reached: () => void; go: Promise<void> };

  hold(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.gate = { reached, go: new Promise<void>((resolve) => (release = resolve)) };
    return { reached: reachedPromise, release };
  }

  async pass(): Promise<void> {
    const gate = this.gate;
    this.gate = undefined;
    if (gate) {
      gate.reached();
      await gate.go;
    }
  }
}
