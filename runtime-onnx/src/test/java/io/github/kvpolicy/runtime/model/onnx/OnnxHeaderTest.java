package io.github.kvpolicy.runtime.model.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.github.kvpolicy.runtime.TestModels;
import io.github.kvpolicy.runtime.model.ModelPackage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The decoder header read from the protobuf equals what an ONNX Runtime session reports, without the weights. */
class OnnxHeaderTest {
    @TempDir
    Path tmp;

    @Test
    void equalsWhatOnnxRuntimeReports() throws Exception {
        for (ModelPackage.BuiltModel b : List.of(TestModels.built("tiny", 7), TestModels.built("tiny-vlm", 7))) {
            for (Path graph : List.of(b.decoder(), b.embed())) {
                OnnxHeader h = OnnxHeader.read(graph);
                try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                     OrtSession s = OrtEnvironment.getEnvironment().createSession(graph.toString(), o)) {
                    assertEquals(s.getMetadata().getCustomMetadata(), h.metadata(), graph.toString());
                    assertEquals(s.getInputNames(), h.inputs().keySet(), graph.toString());
                    assertEquals(s.getOutputNames(), h.outputs().keySet(), graph.toString());
                }
            }
            OnnxHeader d = OnnxHeader.read(b.decoder());
            assertEquals("INT64[batch,seq]", d.inputs().get("position_ids"));
            assertTrue(d.outputs().get("logits").startsWith("FLOAT[batch,"), d.outputs().toString());
            assertEquals("decoder", d.metadata().get("kvpolicy.graph"));
        }
    }

    @Test
    void skipsEmbeddedWeightsAndNeverOpensExternalData() throws Exception {
        ModelPackage.BuiltModel b = TestModels.built("tiny", 7);
        Path copy = tmp.resolve("decoder.onnx");
        Files.copy(b.decoder(), copy);
        // an external-data side file next to it that would fail any reader that opened it
        Files.writeString(tmp.resolve("decoder.onnx.data"), "not weights");
        OnnxHeader h = OnnxHeader.read(copy);
        assertEquals(OnnxHeader.read(b.decoder()), h);
        assertTrue(Files.size(copy) > 10_000, "tiny's decoder embeds its weights: " + Files.size(copy));
    }

    @Test
    void aFileThatIsNotAModelIsOneLineNamingIt() throws Exception {
        Path bad = tmp.resolve("decoder.onnx");
        Files.writeString(bad, "this is not a protobuf \u0000\u00ff");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> OnnxHeader.read(bad));
        assertTrue(e.getMessage().startsWith(bad + " is not an ONNX model"), e.getMessage());
        Path empty = tmp.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        assertEquals(empty + " is not an ONNX model: it has no graph", assertThrows(IllegalStateException.class, () -> OnnxHeader.read(empty)).getMessage());
        assertFalse(Map.of().equals(OnnxHeader.read(TestModels.built("tiny", 7).decoder()).inputs()));
    }
}
