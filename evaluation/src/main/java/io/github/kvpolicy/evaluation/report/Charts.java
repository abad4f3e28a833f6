package io.github.kvpolicy.evaluation.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;

/** Minimal PNG charts with Java2D (headless): accuracy-vs-retention lines and kept-token heatmaps. */
public final class Charts {
    private static final Color[] PALETTE = {
        new Color(0xd62728), new Color(0x1f77b4), new Color(0x2ca02c), new Color(0xff7f0e), new Color(0x9467bd),
        new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f), new Color(0xbcbd22), new Color(0x17becf),
        new Color(0x393b79), new Color(0x637939), new Color(0xad494a), new Color(0x843c39)};

    private Charts() {}

    /**
     * Plots one line per series: x = retention in (0, 1] on a log axis, y = accuracy in [0, 1].
     *
     * @param series name → (retention → accuracy), in legend order
     */
    public static void accuracyVsRetention(Path png, String title, Map<String, ? extends Map<Double, Double>> series) throws IOException {
        lineChart(png, title, "exact-match accuracy", series);
    }

    /** As {@link #accuracyVsRetention}, with another y-axis label (values in [0, 1]). */
    public static void lineChart(Path png, String title, String yLabel, Map<String, ? extends Map<Double, Double>> series) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 980, h = 620, left = 70, right = 220, top = 50, bottom = 60;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        int pw = w - left - right, ph = h - top - bottom;
        double xmin = Math.log10(0.01), xmax = Math.log10(1.0);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setColor(new Color(0xeeeeee));
        for (int i = 0; i <= 10; i++) { int y = top + ph - i * ph / 10; g.drawLine(left, y, left + pw, y); }
        double[] ticks = {0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0};
        for (double t : ticks) { int x = left + (int) ((Math.log10(t) - xmin) / (xmax - xmin) * pw); g.drawLine(x, top, x, top + ph); }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, pw, ph);
        for (int i = 0; i <= 10; i++) { int y = top + ph - i * ph / 10; g.drawString(String.format("%.1f", i / 10.0), left - 30, y + 4); }
        for (double t : ticks) {
            int x = left + (int) ((Math.log10(t) - xmin) / (xmax - xmin) * pw);
            String s = (t * 100 == Math.rint(t * 100) ? String.valueOf((int) Math.rint(t * 100)) : String.valueOf(t * 100)) + "%";
            g.drawString(s, x - 10, top + ph + 18);
        }
        g.drawString("visual KV cache retained (log scale)", left + pw / 2 - 100, h - 18);
        g.drawString(yLabel, 8, top - 12);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, left, 28);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        int k = 0;
        for (Map.Entry<String, ? extends Map<Double, Double>> e : series.entrySet()) {
            Color c = PALETTE[k % PALETTE.length];
            g.setColor(c);
            g.setStroke(new BasicStroke(e.getKey().startsWith("aircache") ? 3.0f : 1.6f));
            int px = -1, py = -1;
            for (Map.Entry<Double, Double> p : new java.util.TreeMap<>(e.getValue()).entrySet()) {
                int x = left + (int) ((Math.log10(Math.max(0.01, p.getKey())) - xmin) / (xmax - xmin) * pw);
                int y = top + ph - (int) (p.getValue() * ph);
                g.fillOval(x - 3, y - 3, 7, 7);
                if (px >= 0) g.drawLine(px, py, x, y);
                px = x;
                py = y;
            }
            int ly = top + 10 + k * 20;
            g.drawLine(left + pw + 15, ly, left + pw + 40, ly);
            g.setColor(Color.BLACK);
            g.drawString(e.getKey(), left + pw + 46, ly + 4);
            k++;
        }
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }

    /**
     * Draws, per policy (rows) and layer (columns), the grid×grid image with each cell shaded by the share of KV heads
     * that kept its visual token (white = evicted everywhere, dark = kept by every head); objects outlined.
     *
     * @param kept policy → [layer][cell] share in [0, 1]
     */
    public static void keptHeatmap(Path png, String title, int grid, List<int[]> objectCells, LinkedHashMap<String, double[][]> kept) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int cell = 6, pad = 8, labelW = 130, top = 48;
        int layers = kept.values().iterator().next().length;
        int panel = grid * cell;
        int w = labelW + layers * (panel + pad) + pad, h = top + kept.size() * (panel + pad) + pad;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
        g.drawString(title, 8, 18);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
        for (int l = 0; l < layers; l++) g.drawString("layer " + l, labelW + l * (panel + pad) + panel / 2 - 18, top - 6);
        int r = 0;
        for (Map.Entry<String, double[][]> e : kept.entrySet()) {
            int y0 = top + r * (panel + pad);
            g.setColor(Color.BLACK);
            g.drawString(e.getKey(), 8, y0 + panel / 2 + 4);
            for (int l = 0; l < layers; l++) {
                int x0 = labelW + l * (panel + pad);
                for (int c = 0; c < grid * grid; c++) {
                    double v = Math.max(0, Math.min(1, e.getValue()[l][c]));
                    int shade = (int) Math.round(255 - v * 215);
                    g.setColor(new Color(shade, shade, 255 - (int) (v * 120)));
                    g.fillRect(x0 + (c % grid) * cell, y0 + (c / grid) * cell, cell, cell);
                }
                g.setColor(new Color(0xd62728));
                for (int[] o : objectCells) g.drawRect(x0 + o[1] * cell, y0 + o[0] * cell, cell - 1, cell - 1);
                g.setColor(Color.GRAY);
                g.drawRect(x0, y0, panel, panel);
            }
            r++;
        }
        g.dispose();
        ImageIO.write(img, "png", png.toFile());
    }
}
