// Asks the API whether it is healthy and shows the answer.
const status = document.getElementById("status");
fetch(`${window.APP_CONFIG.apiUrl}/api/health-check`)
  .then((response) => response.json())
  .then((body) => { status.textContent = `${body.status} (${body.version})`; })
  .catch((error) => { status.textContent = `unreachable: ${error}`; });
