// Handoff's only script: no inline scripts anywhere, so a strict Content-Security-Policy fits.
(function () {
  "use strict";

  // The sign-in form sends the browser's time zone, so times are shown in the reader's zone.
  function fillTimeZone() {
    document.querySelectorAll("[data-browser-time-zone]").forEach(function (input) {
      try {
        input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
      } catch (e) { /* an old browser: the organisation's default zone is used */ }
    });
  }

  function banner() { return document.getElementById("problem"); }

  function showProblem(text) {
    var box = banner();
    if (!box) { return; }
    box.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "Dismiss";
    close.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(close);
    box.hidden = false;
  }

  // htmx does not swap 4xx/5xx answers (but 409 and 422, which carry their own fragment):
  // say what happened instead of failing in silence.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var title = doc.querySelector(".problem-title");
      var message = doc.querySelector(".problem-message");
      if (message) {
        text = (title ? title.textContent.trim() + ": " : "") + message.textContent.trim();
      }
    } catch (e) { text = ""; }
    showProblem(text || ("The server answered " + xhr.status + ". Nothing was changed."));
  });

  document.addEventListener("htmx:sendError", function () {
    showProblem("Could not reach Handoff. Check your connection; nothing was changed.");
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    // A background refresh should not hide a problem the person has not read yet.
    var box = banner();
    if (box && !box.hidden && event.detail.requestConfig && event.detail.requestConfig.triggeringEvent &&
        event.detail.requestConfig.triggeringEvent.type !== "every") {
      box.hidden = true;
    }
  });

  // Answering a card by keyboard: the card is swapped for its new state, and the button that
  // had focus is gone. Focus goes to the card as it is now, and what happened is announced.
  var answered = null;
  document.addEventListener("submit", function (event) {
    var card = event.target.closest && event.target.closest("article.handoff, article.task");
    answered = card ? card.id : null;
  }, true);

  document.addEventListener("htmx:responseError", function () { answered = null; }, true);

  document.addEventListener("htmx:afterSettle", function () {
    if (!answered) { return; }
    var card = document.getElementById(answered);
    answered = null;
    if (!card) { return; }
    card.setAttribute("tabindex", "-1");
    card.focus();
    var live = document.getElementById("announce");
    if (!live) { return; }
    var ref = card.querySelector(".ref");
    var notice = card.querySelector(".notice, .errors, .task-done");
    var state = card.querySelector(".state");
    var what = notice ? notice.textContent : (state ? state.textContent : "");
    what = what.replace(/^[^A-Za-z]+/, "");  // (an icon before the words is not read out)
    live.textContent = ((ref ? ref.textContent.trim() + ": " : "") + what.trim());
  });

  // Going back, htmx puts the page back as it saved it, from its markup. A choice made in a
  // form (a filter, an order, a page size) lives in the control, not in the markup, and would
  // come back as the page first had it, beside a list made by the choice. So once a swap has
  // settled, the state the page's address now shows is written into the markup; htmx saves
  // the page before the next swap, while the markup still says what that address showed.
  // (Not a password's, nor what is typed into a text area.)
  function keepChoicesInMarkup() {
    document.querySelectorAll("select option").forEach(function (option) {
      option.toggleAttribute("selected", option.selected);
    });
    document.querySelectorAll("input").forEach(function (input) {
      if (input.type === "checkbox" || input.type === "radio") {
        input.toggleAttribute("checked", input.checked);
      } else if (input.type !== "password" && input.type !== "file" && input.type !== "hidden") {
        input.setAttribute("value", input.value);
      }
    });
  }
  document.addEventListener("htmx:afterSettle", keepChoicesInMarkup);

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fillTimeZone);
  } else {
    fillTimeZone();
  }
})();
