// Handoff in the browser: publish what is open (item, caret, selection, scroll), say
// "active" when this tab comes to the foreground, and offer to continue where another
// device left off. Accepting syncs first, so the item never opens stale.
import { api, ApiError } from "./api.js";
import { $, toast } from "./ui.js";

const PUBLISH_DELAY_MS = 400;
const RESUME_KEY = "cloudsaves.resume";

export class Handoff {
  constructor(client) {
    this.client = client;
    this.current = null; // {itemId, version, state}
    this.timer = null;
    this.offer = null;
  }

  mount() {
    const banner = $("[data-handoff-banner]");
    this.banner = banner;
    if (banner) {
      $("[data-handoff-accept]", banner).addEventListener("click", () => this.accept(this.offer));
      $("[data-handoff-decline]", banner).addEventListener("click", () => this.decline(this.offer));
    }
    this.client.addEventListener("offer", (e) => this.onOffer(e.detail));
    this.client.addEventListener("continued", (e) => {
      const offer = e.detail;
      const where = offer.target_device ? offer.target_device.name : "another device";
      toast(`Continued on ${where}.`, { kind: "success" });
    });
    // Coming to the foreground: ask whether another device has something newer.
    const active = () => {
      if (document.visibilityState === "visible") this.active();
    };
    document.addEventListener("visibilitychange", active);
    window.addEventListener("focus", active);
    this.client.addEventListener("hello", () => {
      if (document.visibilityState === "visible") this.active();
      this.flush();
    });
  }

  // Called by the open item's page whenever its caret, selection or scroll moves.
  publish(itemId, version, state) {
    this.current = { itemId, version, state };
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), PUBLISH_DELAY_MS);
  }

  async flush() {
    clearTimeout(this.timer);
    const current = this.current;
    if (!current || !current.version) return;
    try {
      await api.put("/handoff/activity", { item_id: current.itemId, item_version: current.version, state: current.state });
    } catch (err) {
      if (err instanceof ApiError && err.code === "push_pending_first") {
        // The other device must never open a version the server has not got: push, then publish.
        await this.client.syncNow().catch(() => {});
        const item = await this.client.item(current.itemId);
        if (item && item.version && this.current === current) {
          current.version = item.version;
          this.timer = setTimeout(() => this.flush(), PUBLISH_DELAY_MS);
        }
      }
      // Offline or not yet pushed: the next publish or reconnect sends it.
    }
  }

  async clear() {
    this.current = null;
    clearTimeout(this.timer);
    try {
      await api.del("/handoff/activity");
    } catch {
      /* nothing published, or offline */
    }
  }

  async active() {
    try {
      const offer = await api.post("/handoff/active", {});
      if (offer) this.onOffer(offer);
    } catch {
      /* offline: nothing to offer */
    }
  }

  onOffer(offer) {
    if (!offer) return;
    if (offer.status && offer.status !== "pending") {
      if (this.offer && this.offer.id === offer.id) this.hideBanner();
      return;
    }
    if (offer.source_device && this.client.device && offer.source_device.id === this.client.device.id) return;
    this.offer = offer;
    if (offer.handoff_mode === "auto") {
      this.accept(offer);
      return;
    }
    this.showBanner(offer);
  }

  showBanner(offer) {
    if (!this.banner) return;
    const name = offer.item ? offer.item.name : "your item";
    const from = offer.source_device ? offer.source_device.name : "another device";
    $("[data-handoff-text]", this.banner).textContent = `Continue “${name}” from ${from}?`;
    this.banner.hidden = false;
  }

  hideBanner() {
    if (this.banner) this.banner.hidden = true;
    this.offer = null;
  }

  async accept(offer) {
    if (!offer) return;
    const button = this.banner && $("[data-handoff-accept]", this.banner);
    if (button) {
      button.disabled = true;
      button.textContent = "Syncing…";
    }
    try {
      // Everything pending goes out first, and the pull reaches at least the offer's cursor.
      await this.client.syncNow();
      const answer = await api.post(`/handoff/offers/${offer.id}/accept`, {});
      await this.client.adoptServerItem(answer.item);
      sessionStorage.setItem(RESUME_KEY, JSON.stringify({ itemId: answer.item.id, state: answer.state || {}, at: Date.now() }));
      this.hideBanner();
      const target = `/items/${answer.item.id}/`;
      if (location.pathname === target) window.dispatchEvent(new CustomEvent("cloudsaves:resume"));
      else location.assign(target);
    } catch (err) {
      this.hideBanner();
      const message = err instanceof ApiError && err.code === "expired" ? "That handoff has expired." : `Could not continue: ${err.message}`;
      toast(message, { kind: "error" });
    } finally {
      if (button) {
        button.disabled = false;
        button.textContent = "Continue here";
      }
    }
  }

  async decline(offer) {
    this.hideBanner();
    if (!offer) return;
    try {
      await api.post(`/handoff/offers/${offer.id}/decline`, {});
    } catch {
      /* already answered or expired */
    }
  }
}

// The state to restore when an item page opens after a handoff (once, fresh only).
export function takeResumeState(itemId) {
  const raw = sessionStorage.getItem(RESUME_KEY);
  if (!raw) return null;
  try {
    const resume = JSON.parse(raw);
    if (resume.itemId !== itemId || Date.now() - resume.at > 60000) return null;
    sessionStorage.removeItem(RESUME_KEY);
    return resume.state;
  } catch {
    sessionStorage.removeItem(RESUME_KEY);
    return null;
  }
}
