"""Helpers for OpenWakeWordLiveTests (run with the project's .venv python).

  utterances OUT.f32 OUT.json
      Speaks each phrase with espeak-ng, resamples it to 48 kHz with soxr (HQ) and writes them one after
      another as raw float32 at 48 kHz, each with 0.5 s of silence before and 1.5 s after. OUT.json lists every
      segment: text, the openWakeWord model and the microWakeWord model that should fire on it (or null), and its
      first and end sample in OUT.f32. Voices and speeds were chosen offline so that each claimed model reaches
      0.9 or more (openWakeWord) / 0.95 or more (microWakeWord) at every framing phase tried (0, 400, 800, 1200
      samples of extra lead at 16 kHz); espeak-ng's "hey mycroft" never moves openWakeWord's hey_mycroft (0.00 in
      every voice tried) and its "hey jarvis" stays below microWakeWord's cutoff, so those two pairs are not
      claimed either way.

  reference WAV
      Runs pyopen-wakeword's own pipeline (OpenWakeWordFeatures.process_streaming, then every shipped wake-word
      model) on the 16-bit 16 kHz WAV, fed 1280 samples at a time, and prints, with the same rule as
      Examples/openwakeword.py (probability above 0.5, once per rising edge):
          DETECTED MODEL probability P sample S
      where S is the number of 16 kHz samples fed when it fired; and once per model MAX MODEL P.
"""
import json
import sys
import wave

import numpy as np

from wakeword_support import RATE, speak  # the same speech, at the same 48 kHz

OWW_MODELS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa", "hey_rhasspy")
# (text, espeak-ng voice, words per minute, openWakeWord model, microWakeWord model)
PHRASES = [
    ("okay nabu", "en-us", 150, "okay_nabu", "okay_nabu"),
    ("what time is it", "en", 150, None, None),
    ("alexa", "en", 150, "alexa", "alexa"),
    ("turn on the kitchen lights", "en", 150, None, None),
    ("hey jarvis", "en", 150, "hey_jarvis", None),
    ("good morning everyone", "en", 150, None, None),
    ("hey rhasspy", "en+f3", 130, "hey_rhasspy", None),
    ("play some music", "en", 150, None, None),
    ("hey mycroft", "en", 150, None, "hey_mycroft"),
]
# (family, model, text): no claim either way (see above).
UNCLAIMED = [("micro", "hey_jarvis", "hey jarvis"), ("oww", "hey_mycroft", "hey mycroft")]


def utterances(raw_path, json_path):
    parts, segments, position = [], [], 0
    for text, voice, speed, oww, micro in PHRASES:
        audio = np.concatenate([np.zeros(RATE // 2), speak(text, voice, speed), np.zeros(3 * RATE // 2)])
        segments.append(dict(text=text, voice=voice, oww=oww, micro=micro, start=position, end=position + len(audio)))
        parts.append(audio)
        position += len(audio)
    np.concatenate(parts).astype("<f4").tofile(raw_path)
    unclaimed = [dict(family=f, model=m, text=t) for f, m, t in UNCLAIMED]
    json.dump(dict(rate=RATE, segments=segments, unclaimed=unclaimed), open(json_path, "w"), indent=1)


def reference(wav_path):
    from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
    w = wave.open(wav_path)
    assert w.getframerate() == 16000 and w.getsampwidth() == 2 and w.getnchannels() == 1, "need 16-bit 16 kHz mono"
    pcm = w.readframes(w.getnframes())
    features = OpenWakeWordFeatures.from_builtin()
    models = {name: OpenWakeWord.from_builtin(Model(name)) for name in OWW_MODELS}
    above = {name: False for name in OWW_MODELS}
    best = {name: 0.0 for name in OWW_MODELS}
    step = 1280 * 2
    for i in range(0, len(pcm), step):
        fed = min(len(pcm), i + step) // 2
        for embedding in features.process_streaming(pcm[i:i + step]):
            for name, model in models.items():
                for probability in model.process_streaming(embedding):
                    best[name] = max(best[name], probability)
                    if probability > 0.5 and not above[name]:
                        print(f"DETECTED {name} probability {probability:.3f} sample {fed}")
                    above[name] = probability > 0.5
    for name in OWW_MODELS:
        print(f"MAX {name} {best[name]:.6f}")
    return 0


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    sys.exit({"utterances": utterances, "reference": reference}[command](*arguments) or 0)
