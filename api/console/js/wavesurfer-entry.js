// wavesurfer.js with its Regions plugin, exposed as window.CallrobotWaveSurfer.
import WaveSurfer from "wavesurfer.js";
import RegionsPlugin from "wavesurfer.js/dist/plugins/regions.esm.js";

window.CallrobotWaveSurfer = { WaveSurfer, RegionsPlugin };
