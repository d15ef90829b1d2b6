/**
 * The fastest of the last few round trips to a server (ms): what a round trip takes when nothing holds it up, the
 * network's share. What one takes beyond it was spent waiting somewhere (a busy event loop, a busy server).
 */
export class RoundTripFloor {
  private readonly recent: number[] = [];

  /** @param size how many of the latest round trips count: few enough that a move to a farther server is learnt soon */
  constructor(private readonly size = 32) {}

  /** Adds a round trip and returns the floor, this one included. */
  add(ms: number): number {
    this.recent.push(ms);
    if (this.recent.length > this.size) this.recent.shift();
    return Math.min(...this.recent);
  }
}
