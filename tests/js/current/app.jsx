// A React app on the CURRENT @orga-ai/react and @orga-ai/core (1.1.x), built from their sources
// by build.mjs, unmodified. It talks to the emulator directly through the SDK's `baseUrl` (plain
// HTTP, cross-origin: the emulator allows CORS on /v1/*), with no voice set unless ?voice= says
// so: the SDK's own default goes on the wire. The test drives it through window.orgaTest:
//   hook           the value of useOrgaAI() at the last render (startSession, enableMic, ...)
//   events         every server event of the data channel, as received
//   callbacks      what the SDK's callbacks were called with (messageTimes: performance.now()
//                  when each onConversationMessageCreated came)
//   sessionConfigs what the page's session endpoint answered, each time the SDK fetched it
//   energy         the AI audio's RMS, measured with WebAudio on hook.aiAudioStream (loudAt:
//                  performance.now() when it first went over energy.threshold)
//   stats()        inbound audio RTP from the peer connection's getStats()
// Only browser APIs are observed (fetch and RTCPeerConnection are wrapped to keep what they
// return); the SDK's code is not touched.
import React, { useEffect } from "react";
import { createRoot } from "react-dom/client";
import { OrgaAI, OrgaAIProvider, OrgaAudio, useOrgaAI } from "@orga-ai/react";
import { measureEnergy, speechMicrophone, watchPeerConnections } from "../browser/page_probe.js";

const query = new URLSearchParams(location.search);
const config = window.orgaTestConfig || {};
const test = {
  hook: null,
  config,
  events: [],
  sessionConfigs: [],
  callbacks: {
    sessionCreated: [],
    conversationCreated: [],
    messages: [],
    messageTimes: [],
    connected: 0,
    ended: 0,
    errors: [],
  },
  peers: [],
  peerStates: [],
  energy: { peak: 0, peakAt: null, threshold: 0.01, loudAt: null, measuring: false },
};
window.orgaTest = test;

const nativeFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const response = await nativeFetch(input, init);
  const url = String(input?.url ?? input);
  if (new URL(url, location.href).pathname === "/api/session-config") {
    response
      .clone()
      .json()
      .then((body) => test.sessionConfigs.push({ status: response.status, body }))
      .catch((error) => test.sessionConfigs.push({ status: response.status, error: String(error) }));
  }
  return response;
};

watchPeerConnections(test);
if (query.get("mic") === "wav") speechMicrophone(nativeFetch);

test.stats = async () => {
  const pc = test.peers.at(-1);
  if (!pc) return null;
  const report = await pc.getStats();
  const out = { inboundAudio: null, outboundAudio: null };
  report.forEach((entry) => {
    if (entry.type === "inbound-rtp" && entry.kind === "audio") {
      out.inboundAudio = { packetsReceived: entry.packetsReceived, bytesReceived: entry.bytesReceived };
    }
    if (entry.type === "outbound-rtp" && entry.kind === "audio") {
      out.outboundAudio = { packetsSent: entry.packetsSent, bytesSent: entry.bytesSent };
    }
  });
  return out;
};

function Session() {
  const orga = useOrgaAI();
  test.hook = orga;
  useEffect(() => {
    if (!orga.aiAudioStream) return undefined;
    return measureEnergy(test, orga.aiAudioStream);
  }, [orga.aiAudioStream]);
  return (
    <main>
      <h1>@orga-ai/react (current, from source) against orga-emulator</h1>
      <p id="state">{orga.connectionState}</p>
      <p id="conversation">{orga.conversationId}</p>
      <ol id="items">
        {orga.conversationItems.map((item, i) => (
          <li key={i} data-sender={item.sender}>
            <b>{item.sender}:</b> {item.content.message}
          </li>
        ))}
      </ol>
      {/* Chrome plays a remote stream into WebAudio only while a media element plays it too. */}
      <OrgaAudio stream={orga.aiAudioStream} />
    </main>
  );
}

OrgaAI.init({
  sessionConfigEndpoint: "/api/session-config",
  baseUrl: query.get("baseUrl") || config.baseUrl,
  ...(query.get("voice") ? { voice: query.get("voice") } : {}),
  enableTranscriptions: true,
  logLevel: query.get("log") || "warn",
});

createRoot(document.getElementById("root")).render(
  <OrgaAIProvider
    callbacks={{
      onSessionCreated: (event) => test.callbacks.sessionCreated.push(event),
      onConversationCreated: (event) => test.callbacks.conversationCreated.push(event),
      onConversationMessageCreated: (item) => {
        test.callbacks.messages.push(item);
        test.callbacks.messageTimes.push(performance.now());
      },
      onSessionConnected: () => test.callbacks.connected++,
      onSessionEnd: () => test.callbacks.ended++,
      onError: (error) => test.callbacks.errors.push(String(error?.message || error)),
    }}
  >
    <Session />
  </OrgaAIProvider>,
);
