// UTF-8 validation throughput on 1 MiB inputs: pure ASCII (the JSON/chat common case),
// multilingual text mixing 1- to 4-byte sequences, and 3-byte-heavy CJK text.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/utf8.hpp"
#include "protocol/utf8_impl.hpp"

namespace {

constexpr std::size_t input_size = 1 << 20;

// Short sentences in several scripts, glued in random order: ASCII runs between words and
// punctuation, 2-byte Latin/Greek/Cyrillic/Arabic, 3-byte CJK/Devanagari/Thai, 4-byte emoji.
constexpr std::string_view multilingual[] = {
    "The quick brown fox jumps over the lazy dog. ",
    "{\"user\":\"alice\",\"text\":\"see you at 10:30\",\"id\":4711} ",
    "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter. ",
    "Falsches Üben von Xylophonmusik quält jeden größeren Zwerg. ",
    "Ο καλύτερος τρόπος να προβλέψεις το μέλλον είναι να το δημιουργήσεις. ",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. ",
    "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق. ",
    "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧！ ",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ。 ",
    "다람쥐 헌 쳇바퀴에 타고파. ",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले। ",
    "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า ",
    "Great job 👍🎉 see you soon 😀🚀 ",
    "Mathematics: ∀x∈ℝ, ∃y: y² = x → √x ≈ 1.414… ",
};

constexpr std::string_view cjk[] = {
    "我能吞下玻璃而不伤身体。",
    "今天天气很好，我们去公园散步吧！",
    "いろはにほへと ちりぬるを",
    "다람쥐 헌 쳇바퀴에 타고파",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
};

template <std::size_t N>
std::vector<std::uint8_t> build_text(const std::string_view (&pieces)[N], unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::size_t> pick(0, N - 1);
    std::vector<std::uint8_t> out;
    out.reserve(input_size + 256);
    while (true) {
        const auto piece = pieces[pick(rng)];
        if (out.size() + piece.size() > input_size) break;
        out.insert(out.end(), piece.begin(), piece.end());
    }
    // Pad to the exact size with ASCII so every input is 1 MiB of valid text.
    out.resize(input_size, ' ');
    return out;
}

std::vector<std::uint8_t> build_ascii() {
    std::vector<std::uint8_t> out(input_size);
    for (std::size_t i = 0; i < input_size; ++i) {
        out[i] = static_cast<std::uint8_t>(' ' + (i * 7 + i / 13) % 95);
    }
    return out;
}

void run(benchmark::State& state, const std::vector<std::uint8_t>& text) {
    if (!sockeye::protocol::is_valid_utf8(text.data(), text.size())) {
        state.SkipWithError("benchmark input is not valid UTF-8");
        return;
    }
    std::size_t ascii = 0;
    for (auto b : text) ascii += b < 0x80;
    for (auto _ : state) {
        benchmark::DoNotOptimize(sockeye::protocol::is_valid_utf8(text.data(), text.size()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(text.size()));
    state.counters["ascii_pct"] =
        100.0 * static_cast<double>(ascii) / static_cast<double>(text.size());
}

void BM_utf8_ascii_1MiB(benchmark::State& state) {
    static const auto text = build_ascii();
    run(state, text);
}

void BM_utf8_multilingual_1MiB(benchmark::State& state) {
    static const auto text = build_text(multilingual, 42);
    run(state, text);
}

void BM_utf8_cjk_1MiB(benchmark::State& state) {
    static const auto text = build_text(cjk, 43);
    run(state, text);
}

void BM_utf8_incremental_4KiB_chunks(benchmark::State& state) {
    // The same multilingual text fed in 4 KiB pieces, as it would arrive from the socket.
    static const auto text = build_text(multilingual, 42);
    for (auto _ : state) {
        sockeye::protocol::utf8_validator v;
        bool ok = true;
        for (std::size_t pos = 0; pos < text.size(); pos += 4096) {
            ok = v.feed(text.data() + pos, std::min<std::size_t>(4096, text.size() - pos)) && ok;
        }
        benchmark::DoNotOptimize(ok && v.at_boundary());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(text.size()));
}

// The portable build of the checker on the same text, for machines without BMI2 (the
// dispatched one above uses it when the CPU has it).
void BM_utf8_multilingual_1MiB_generic(benchmark::State& state) {
    static const auto text = build_text(multilingual, 42);
    for (auto _ : state) {
        benchmark::DoNotOptimize(
            sockeye::protocol::detail::utf8_run_generic(0, text.data(), text.size()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                            static_cast<std::int64_t>(text.size()));
}

}  // namespace

BENCHMARK(BM_utf8_ascii_1MiB);
BENCHMARK(BM_utf8_multilingual_1MiB);
BENCHMARK(BM_utf8_cjk_1MiB);
BENCHMARK(BM_utf8_incremental_4KiB_chunks);
BENCHMARK(BM_utf8_multilingual_1MiB_generic);
