// init.js starts GOV.UK Frontend. Pages load it as a module,
//   <script type="module" src="{{asset "init.js"}}"></script>
// in place of the GOV.UK template's inline script, which the
// Content-Security-Policy forbids. Browsers that run modules are the ones
// GOV.UK Frontend supports, so the body gets both classes here.
//
// The URL imported below is a placeholder: the server (frontend/assets.go)
// replaces it with the content-hashed URL of govuk-frontend.min.js when it
// starts, and serves the result under a hash of its own.
import { initAll } from "__GOVUK_FRONTEND_JS__";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();
