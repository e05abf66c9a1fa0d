// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Verity checkpoint anchor
/// @notice Records that a Merkle log root of a given size existed at a block's time.
///         One transaction anchors a whole checkpoint, however many leaves it covers.
contract VerityAnchor {
    struct Anchor {
        uint64 treeSize;
        uint64 timestamp;
        address submitter;
    }

    mapping(bytes32 => Anchor) private anchors;

    event Anchored(bytes32 indexed root, uint64 treeSize, uint64 timestamp, address submitter);

    error AlreadyAnchored(bytes32 root);
    error EmptyTree();

    function anchor(bytes32 root, uint64 treeSize) external {
        if (treeSize == 0) revert EmptyTree();
        if (anchors[root].timestamp != 0) revert AlreadyAnchored(root);
        anchors[root] = Anchor(treeSize, uint64(block.timestamp), msg.sender);
        emit Anchored(root, treeSize, uint64(block.timestamp), msg.sender);
    }

    /// @return treeSize, timestamp and submitter; timestamp 0 when the root was never anchored.
    function anchorOf(bytes32 root) external view returns (uint64, uint64, address) {
        Anchor memory a = anchors[root];
        return (a.treeSize, a.timestamp, a.submitter);
    }
}
