// logi's passkey buttons (WebAuthn). Every page works without this script: it only reveals and
// runs the buttons marked data-action="add-passkey", "passkey-login" or "passkey-mfa", which
// call the JSON endpoints named in their data-start and data-finish attributes.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  var ACTIONS = ["add-passkey", "passkey-login", "passkey-mfa"];

  function fromB64u(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var binary = atob(s);
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      out[i] = binary.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64u(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(options) {
    var pk = options.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    pk.user.id = fromB64u(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = options.publicKey;
    pk.challenge = fromB64u(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return { publicKey: pk };
  }

  function credentialJson(credential) {
    var r = credential.response;
    var response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64u(r.attestationObject);
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      response.userHandle = r.userHandle ? toB64u(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toB64u(credential.rawId),
      type: credential.type,
      response: response,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {}
    };
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (json) {
        if (!r.ok) {
          throw new Error(json.error_description || "The request failed.");
        }
        return json;
      });
    });
  }

  function value(name) {
    var input = document.querySelector('input[name="' + name + '"]');
    return input && input.value ? input.value : undefined;
  }

  function showError(button, message) {
    var box = document.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = message;
      box.hidden = !message;
    }
    button.disabled = false;
  }

  function run(button, action) {
    var base = { csrf_token: value("csrf_token"), next: value("next") };
    showError(button, "");
    button.disabled = true;
    post(button.getAttribute("data-start"), base)
      .then(function (challenge) {
        var asked = action === "add-passkey"
          ? navigator.credentials.create(creationOptions(challenge.options))
          : navigator.credentials.get(requestOptions(challenge.options));
        return asked.then(function (credential) {
          var body = {
            csrf_token: base.csrf_token,
            next: base.next,
            state: challenge.state,
            credential: credentialJson(credential)
          };
          if (action === "add-passkey") {
            body.name = value("passkey_name");
          }
          return post(button.getAttribute("data-finish"), body);
        });
      })
      .then(function (done) {
        window.location.assign(done.redirect);
      })
      .catch(function (e) {
        var message = e && e.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out."
          : (e && e.message) || "The passkey did not work.";
        showError(button, message);
      });
  }

  document.querySelectorAll("[data-action]").forEach(function (button) {
    var action = button.getAttribute("data-action");
    if (ACTIONS.indexOf(action) < 0) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      run(button, action);
    });
  });
  document.querySelectorAll("[data-passkey-only]").forEach(function (el) {
    el.hidden = false;
  });
})();
