// The token form, shown when the server answers 401, and the "Sign out"
// button. The token itself is kept by api.js, in sessionStorage.

import { getToken, setToken, tokenProblem } from './api.js';

export class AuthGate {
  /**
   * @param {{panel: HTMLElement, form: HTMLFormElement, input: HTMLInputElement,
   *          message: HTMLElement, signOut: HTMLElement}} els
   * @param {{check: () => Promise<boolean>, signedOut: () => void}} on
   *   check tries the token just kept (true: accepted); signedOut is called
   *   after the token was forgotten
   */
  constructor(els, on) {
    Object.assign(this, els);
    this.on = on;
    this.form.addEventListener('submit', (e) => this.submit(e));
    this.signOut.addEventListener('click', () => this.forget());
    this.input.addEventListener('input', () => this.say(''));
    this.refresh();
  }

  get shown() {
    return !this.panel.hidden;
  }

  /** Shows the form; rejected: the token that was sent is not accepted. */
  show(rejected, note = '') {
    if (rejected) setToken(null); // never send it again
    const wasShown = this.shown;
    this.panel.hidden = false;
    this.refresh();
    if (rejected) this.say('That token was not accepted. Check it, or ask for a new one.', true);
    else if (note) this.say(note);
    else if (!wasShown) this.say('');
    if (!wasShown || rejected) {
      this.input.focus();
      this.input.select();
    }
  }

  hide() {
    this.panel.hidden = true;
    this.input.value = '';
    this.say('');
    this.refresh();
  }

  /** Shows "Sign out" while a token is kept. */
  refresh() {
    this.signOut.hidden = !getToken() || this.shown;
  }

  say(text, isError = false) {
    this.message.textContent = text;
    this.message.classList.toggle('error', isError);
    if (isError) this.input.setAttribute('aria-invalid', 'true');
    else this.input.removeAttribute('aria-invalid');
  }

  async submit(e) {
    e.preventDefault();
    const token = this.input.value.trim();
    const problem = tokenProblem(token);
    if (problem) {
      this.say(problem, true);
      this.input.focus();
      return;
    }
    const button = this.form.querySelector('button[type="submit"]');
    button.disabled = true;
    this.say('Checking the token…');
    setToken(token);
    try {
      // A 401 comes back through show(true), which says so.
      if (await this.on.check()) this.hide();
    } finally {
      button.disabled = false;
    }
  }

  forget() {
    setToken(null);
    this.on.signedOut();
    this.show(false, 'Signed out: this tab no longer holds a token.');
  }
}
