// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected: 0x82F63B78), the checksum every
// checkpoint file carries in metadata.json. Chosen over xxHash because the CPU computes it in
// hardware (SSE4.2 crc32, 8 bytes per instruction) and it is the checksum of iSCSI, ext4 and
// Google's storage formats, so any tool can verify a file (`crc32c` in Python's crc32c package,
// `gsutil hash -c`).
//
// Streaming: crc = crc32c_update(crc, bytes...) starting from 0 gives the CRC of the
// concatenation (the standard pre/post inversion is inside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace primus::checkpoint {

std::uint32_t crc32c_update(std::uint32_t crc, const void* data, std::size_t bytes);
inline std::uint32_t crc32c(const void* data, std::size_t bytes) { return crc32c_update(0, data, bytes); }

// "1a2b3c4d": how metadata.json spells a CRC (8 lower-case hex digits).
std::string crc32c_hex(std::uint32_t crc);

// The CRC of a whole file, read in 8 MiB blocks; throws primus::Error naming the file when it
// cannot be read. `bytes` (optional) receives the file's size.
std::uint32_t crc32c_of_file(const std::filesystem::path& path, std::uint64_t* bytes = nullptr);

}  // namespace primus::checkpoint
